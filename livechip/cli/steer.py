"""The steering flags of `generate` and `play` (`--key`, `--scale`, `--density`, `--low VOICE:NOTE`,
`--high VOICE:NOTE`; docs/steering.md), read in one place: as a Steering for `generate`, as settings for `play`."""

from livechip.core.errors import LivechipError
from livechip.model.steer import DENSITY_RANGE, Steering, parse_key, parse_scale, parse_voice


def _check(flag, fn, *a):
    try:
        return fn(*a)
    except ValueError as e:
        raise LivechipError(f"{flag}: {e}") from None


def parse_ranges(args):
    """{voice: [low, high]} of `--low VOICE:NOTE` and `--high VOICE:NOTE` (an end not given: None)."""
    ranges = {}
    for end, items in (("low", args.low), ("high", args.high)):
        for item in items or ():
            voice, _, note = item.partition(":")
            if not note.strip().isdigit():
                raise LivechipError(f"--{end}: expected VOICE:NOTE, e.g. P1:60, got {item!r}")
            voice = _check(f"--{end}", parse_voice, voice)
            ranges.setdefault(voice, [None, None])[end == "high"] = int(note)
    return ranges


def parse_steering(args):
    """The Steering of `--key`, `--scale`, `--density`, `--low VOICE:NOTE` and `--high VOICE:NOTE`."""
    key = _check("--key", parse_key, args.key)
    scale = _check("--scale", parse_scale, args.scale or "major")
    if args.scale is not None and key is None and scale != "chromatic":
        raise LivechipError(f"--scale {args.scale} needs a key, e.g. --key D --scale {scale}")
    ranges = parse_ranges(args)
    s = _check("--density", Steering, key, scale, args.density)
    s = _check("--low/--high", Steering, key, scale, args.density, {v: tuple(r) for v, r in ranges.items()})
    silent = s.silent_voices()
    if silent:
        raise LivechipError(f"--low/--high: no note of {', '.join(silent)} is left inside its range ({s})")
    return s


def steer_settings(args):
    """The settings (path, value) of the steering flags given, checked (for `play`: over a preset's values)."""
    out = []
    if args.key is not None:
        _check("--key", parse_key, args.key)
        out.append(("key", args.key))
    if args.scale is not None:
        out.append(("scale", _check("--scale", parse_scale, args.scale)))
    if args.density is not None:
        if not DENSITY_RANGE[0] <= args.density <= DENSITY_RANGE[1]:
            raise LivechipError(f"--density must be {DENSITY_RANGE[0]:g} .. {DENSITY_RANGE[1]:g} (1 = the model's "
                                f"own rate), got {args.density:g}")
        out.append(("density", args.density))
    for voice, ends in parse_ranges(args).items():
        _check("--low/--high", Steering, None, "major", 1.0, {voice: tuple(ends)})
        out += [(f"voice/{voice.lower()}/{end}", n) for end, n in zip(("low", "high"), ends) if n is not None]
    return out
