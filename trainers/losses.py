"""Training losses: DPO (sigmoid), IPO, SimPO and masked NLL, as `torch.nn.Module`s.

The preference losses share one call signature over per-sequence summed
log-probabilities, so the trainer does not care which one it runs:
`loss(policy_chosen, policy_rejected, ref_chosen, ref_rejected, chosen_lengths,
rejected_lengths)`. DPO and IPO ignore the lengths; SimPO is reference-free and
ignores the reference log-probs. Each returns a `PreferenceLossOutput` whose
rewards are what the trainer logs (margins, accuracy).

Example:
    >>> out = DPOLoss(beta=0.1)(pc, pr, rc, rr, lc, lr)
    >>> out.loss.backward(); (out.chosen_rewards > out.rejected_rewards).float().mean()
"""

from __future__ import annotations

from typing import NamedTuple

import torch.nn.functional as F
from torch import Tensor, nn


class PreferenceLossOutput(NamedTuple):
    """Mean loss over the batch, per-pair losses, and the implicit rewards of each side."""

    loss: Tensor
    losses: Tensor
    chosen_rewards: Tensor
    rejected_rewards: Tensor


class DPOLoss(nn.Module):
    """Direct Preference Optimisation, sigmoid form (Rafailov et al. 2023, eq. 7).

    loss = -(1-e) log sigmoid(beta*h) - e log sigmoid(-beta*h), with
    h = (log pi(y_w) - log ref(y_w)) - (log pi(y_l) - log ref(y_l)) and e the
    label smoothing of conservative DPO (0 gives plain DPO).

    Derivation of the test numbers: pi_w=-1, pi_l=-2, ref_w=ref_l=-1.5,
    beta=0.1 -> h = 0.5 - (-0.5) = 1, beta*h = 0.1,
    loss = log(1 + e^-0.1) = 0.644397; rewards 0.05 and -0.05.

    Example:
        >>> DPOLoss(0.1)(t(-1.), t(-2.), t(-1.5), t(-1.5), t(1), t(1)).loss
        tensor(0.6444)
    """

    def __init__(self, beta: float = 0.1, label_smoothing: float = 0.0):
        super().__init__()
        self.beta, self.label_smoothing = beta, label_smoothing

    def forward(self, policy_chosen: Tensor, policy_rejected: Tensor, ref_chosen: Tensor,
                ref_rejected: Tensor, chosen_lengths: Tensor | None = None,
                rejected_lengths: Tensor | None = None) -> PreferenceLossOutput:
        chosen_ratio = policy_chosen - ref_chosen
        rejected_ratio = policy_rejected - ref_rejected
        logits = self.beta * (chosen_ratio - rejected_ratio)
        losses = (-(1 - self.label_smoothing) * F.logsigmoid(logits)
                  - self.label_smoothing * F.logsigmoid(-logits))
        return PreferenceLossOutput(losses.mean(), losses, self.beta * chosen_ratio.detach(),
                                    self.beta * rejected_ratio.detach())


class IPOLoss(nn.Module):
    """Identity Preference Optimisation (Azar et al. 2023, eq. 17).

    loss = (h - 1/(2 tau))^2 with h the same log-ratio difference as DPO and
    tau = `beta`. Log-probs are summed over the action tokens as in the paper
    (TRL divides by the length; our actions are short and of similar length).

    Derivation of the test numbers: the DPO example gives h = 1; tau = 0.1
    -> target 1/(2*0.1) = 5, loss = (1 - 5)^2 = 16.

    Example:
        >>> IPOLoss(0.1)(t(-1.), t(-2.), t(-1.5), t(-1.5), t(1), t(1)).loss
        tensor(16.)
    """

    def __init__(self, beta: float = 0.1):
        super().__init__()
        self.beta = beta

    def forward(self, policy_chosen: Tensor, policy_rejected: Tensor, ref_chosen: Tensor,
                ref_rejected: Tensor, chosen_lengths: Tensor | None = None,
                rejected_lengths: Tensor | None = None) -> PreferenceLossOutput:
        chosen_ratio = policy_chosen - ref_chosen
        rejected_ratio = policy_rejected - ref_rejected
        losses = (chosen_ratio - rejected_ratio - 1 / (2 * self.beta)) ** 2
        return PreferenceLossOutput(losses.mean(), losses, self.beta * chosen_ratio.detach(),
                                    self.beta * rejected_ratio.detach())


class SimPOLoss(nn.Module):
    """Simple Preference Optimisation (Meng et al. 2024, eq. 6): reference-free.

    loss = -log sigmoid(beta/|y_w| log pi(y_w) - beta/|y_l| log pi(y_l) - gamma).
    The reward is the length-normalised log-prob scaled by beta; gamma is the
    target margin (iTool: beta 2.5, gamma 0.5).

    Derivation of the test numbers: pi_w=-4 over 4 tokens (mean -1), pi_l=-6
    over 3 tokens (mean -2), beta=2.5, gamma=0.5 -> rewards -2.5 and -5,
    logit = 2.5 - 0.5 = 2, loss = log(1 + e^-2) = 0.126928.

    Example:
        >>> SimPOLoss(2.5, 0.5)(t(-4.), t(-6.), None, None, t(4), t(3)).loss
        tensor(0.1269)
    """

    def __init__(self, beta: float = 2.5, gamma: float = 0.5):
        super().__init__()
        self.beta, self.gamma = beta, gamma

    def forward(self, policy_chosen: Tensor, policy_rejected: Tensor, ref_chosen: Tensor | None,
                ref_rejected: Tensor | None, chosen_lengths: Tensor,
                rejected_lengths: Tensor) -> PreferenceLossOutput:
        chosen_rewards = self.beta * policy_chosen / chosen_lengths.clamp(min=1)
        rejected_rewards = self.beta * policy_rejected / rejected_lengths.clamp(min=1)
        losses = -F.logsigmoid(chosen_rewards - rejected_rewards - self.gamma)
        return PreferenceLossOutput(losses.mean(), losses, chosen_rewards.detach(),
                                    rejected_rewards.detach())


class MaskedNLLLoss(nn.Module):
    """Mean negative log-likelihood over the tokens a mask selects (SFT on the model's own turns).

    `logits[..., t, :]` predicts `targets[..., t]` (already shifted); tokens with
    `mask` False (prompts, environment turns, Agent-R's bad prefix) do not count.

    Derivation of the test numbers: two-token vocabulary; token 0 has logits
    (0, ln 3) and target 1 -> p = 3/4, nll = -ln 0.75 = 0.287682; token 1 has
    logits (0, 0) and target 0 -> nll = ln 2 = 0.693147; token 2 is masked.
    Mean over the two counted tokens = 0.490415.

    Example:
        >>> MaskedNLLLoss()(logits, targets, mask)
        tensor(0.4904)
    """

    def forward(self, logits: Tensor, targets: Tensor, mask: Tensor | None = None) -> Tensor:
        logits = logits.reshape(-1, logits.shape[-1])
        targets = targets.reshape(-1)
        if mask is not None:
            keep = mask.reshape(-1).bool()
            logits, targets = logits[keep], targets[keep]
        if targets.numel() == 0:
            return logits.sum() * 0.0  # keeps the graph so backward still works
        return F.cross_entropy(logits.float(), targets, reduction="mean")


def build_preference_loss(kind: str, beta: float, gamma: float = 0.5,
                          label_smoothing: float = 0.0) -> nn.Module:
    """The loss module for a `DPOConfig.loss` value."""
    if kind == "dpo":
        return DPOLoss(beta, label_smoothing)
    if kind == "ipo":
        return IPOLoss(beta)
    if kind == "simpo":
        return SimPOLoss(beta, gamma)
    raise ValueError(f"unknown preference loss {kind!r}; expected dpo, ipo or simpo")
