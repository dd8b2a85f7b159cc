"""`livechip import-lakhnes`: a LakhNES model.pt to a livechip model folder (`livechip.model.checkpoint`)."""

from livechip.model.checkpoint import import_lakhnes


def import_command(args):
    model = import_lakhnes(args.src, args.output)
    c = model.cfg
    n = sum(p.numel() for p in model.parameters())
    print(f"{args.output}: imported {args.src} ({c.n_layer} layers, {c.n_head}x{c.d_head} heads, d_model {c.d_model}, "
          f"d_inner {c.d_inner}, {n:,} parameters)")
    return 0
