"""Start the kbert studio: `python -m ui [--desktop] [--models-dir saved_models] [--port 7860] [--no-browser]
[--share]`."""

import argparse
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m ui", description=__doc__.split(":")[0])
    parser.add_argument("--desktop", action="store_true",
                        help="open the studio in a window of its own instead of a browser tab; the server listens on "
                             "127.0.0.1 behind it and stops when the window closes")
    parser.add_argument("--models-dir", default="saved_models",
                        help="where exported models live (default: %(default)s)")
    parser.add_argument("--host", default="127.0.0.1",
                        help="interface to listen on (default: %(default)s, this machine only)")
    parser.add_argument("--port", type=int, default=7860, help="port (default: %(default)s)")
    parser.add_argument("--no-browser", action="store_true", help="do not open a browser tab")
    parser.add_argument("--share", action="store_true", help="also serve through a public Gradio share link")
    args = parser.parse_args(argv)

    from ui.quiet_tensorflow import start_tensorflow

    start_tensorflow()
    from ui.app import build_app, serve, warm_up
    from ui.store import ModelStore

    store = ModelStore(args.models_dir)
    if not store.entries:
        print(store.empty_message(), file=sys.stderr)
    warm_up(store)
    app = build_app(store)
    if not args.desktop:
        serve(app, host=args.host, port=args.port, share=args.share, open_browser=not args.no_browser)
        return 0
    from ui.desktop import open_window

    url = serve(app, host="127.0.0.1", port=args.port, block=False)
    print(f"* The studio is open in its own window, served at {url}", flush=True)
    try:
        return open_window(url)
    finally:
        app.close()


if __name__ == "__main__":
    sys.exit(main())
