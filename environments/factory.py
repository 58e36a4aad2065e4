"""Building an environment named by its import path ("package.module:Object").

This is how a config reaches an environment agentloop does not ship:
`env: {kind: import, target: "mypkg.envs:MyEnv", kwargs: {size: 5}}` builds
`MyEnv(size=5)`. The object may be a class or any function returning an
environment. Problems are reported with the target in the message: a module
that cannot be imported, a missing attribute, or an object that lacks the
Environment protocol's members.

Example:
    >>> env = make_env("agentloop.environments.maze:MazeEnv", size=5)
    >>> env.name
    'maze'
"""

from __future__ import annotations

import importlib
from typing import Any

from agentloop.environments.protocol import REQUIRED, Environment, missing_members


class EnvTargetError(ValueError):
    """An import target that does not give an environment; the message names it."""


def resolve_target(target: str) -> Any:
    """The object `target` ("module.path:attribute.path") names."""
    module_name, sep, attribute = target.partition(":")
    if not sep or not module_name or not attribute:
        raise EnvTargetError(f"env target {target!r} is not of the form 'package.module:Object'")
    try:
        obj: Any = importlib.import_module(module_name)
    except Exception as error:  # the user's module may fail in any way while importing
        raise EnvTargetError(f"env target {target!r}: cannot import {module_name!r}: {error!r}") from error
    for part in attribute.split("."):
        if not hasattr(obj, part):
            raise EnvTargetError(f"env target {target!r}: {module_name!r} has no attribute {attribute!r}")
        obj = getattr(obj, part)
    if not callable(obj):
        raise EnvTargetError(f"env target {target!r} is not a class or function")
    if isinstance(obj, type) and missing_members(obj):
        raise EnvTargetError(f"env target {target!r} is not an Environment: it lacks "
                             f"{', '.join(missing_members(obj))} (it needs {', '.join(REQUIRED)})")
    return obj


def make_env(target: str, **kwargs: Any) -> Environment:
    """Call the class or function `target` names with `kwargs`; check the result has
    the Environment protocol's members."""
    factory = resolve_target(target)
    try:
        env = factory(**kwargs)
    except Exception as error:  # a bad keyword or the env's own check of its arguments
        raise EnvTargetError(f"env target {target!r}: calling it with {kwargs!r} failed: {error!r}") from error
    missing = missing_members(env)
    if missing:
        raise EnvTargetError(f"env target {target!r} gave {type(env).__name__}, not an Environment: "
                             f"it lacks {', '.join(missing)}")
    return env
