"""`livechip render`: a score, MIDI or VGM file to a WAV file through the NES APU (`livechip.apu.render`)."""

from livechip.apu import vgm
from livechip.apu.driver import load_timbres
from livechip.apu.render import load_input, render_log, write_wav


def render_command(args):
    timbres = load_timbres(args.timbre) if args.timbre else None
    log = load_input(args.input, timbres, args.ignore_other_chips)
    samples = render_log(log, rate=args.rate, filters=not args.no_filter, progress=True)
    write_wav(args.output, samples, args.rate)
    if args.vgm:
        vgm.write(args.vgm, log)
    print(f"{args.output}: {len(samples) / args.rate:.1f} s at {args.rate} Hz"
          + (f", register log in {args.vgm}" if args.vgm else ""))
    return 0
