"""`livechip tui`: the terminal UI of a livechip already playing, attached over its OSC port
(`livechip.tui.client`)."""

from livechip.core.errors import LivechipError
from livechip.tui.app import LivechipApp
from livechip.tui.client import Remote, parse_address


def tui_command(args):
    """The UI until ctrl+q; the instrument plays on."""
    host, port = parse_address(args.connect)
    try:
        remote = Remote(host, port)
    except OSError as e:
        raise LivechipError(f"cannot open a UDP port to listen on: {e.strerror or e}") from None
    try:
        LivechipApp(remote.control, remote.monitor, quit_stops=False, ascii=args.ascii).run()
    finally:
        remote.close()
    return 0
