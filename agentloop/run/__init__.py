"""Running agents and the self-improvement loop: episodes (`episodes`), the round
loop (`rounds`), the run directory (`rundir`), evaluation (`evaluate`), reports
(`report`) and building components from config (`from_config`)."""
