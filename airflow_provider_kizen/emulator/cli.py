"""`kizen-emulator`: serve the emulator from the command line and print the connection to use."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from typing import get_args

from airflow_provider_kizen.emulator.profiles import (
    PROFILES,
    DateField,
    DateGranularity,
    Profile,
    SearchScope,
    UpperBound,
    Visibility,
)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="kizen-emulator",
        description="A local Kizen API for development, tests and demos; it accepts only its own fake key.",
    )
    parser.add_argument("--host", default="127.0.0.1", help="interface to listen on (default: 127.0.0.1)")
    parser.add_argument(
        "--port", type=int, default=8765, help="port to listen on; 0 picks a free one (default: 8765)"
    )
    parser.add_argument(
        "--state-file",
        help="keep state in this SQLite file, so that a restart loses nothing (default: in memory)",
    )
    parser.add_argument("--seed", type=int, help="make generated ids reproducible")
    parser.add_argument(
        "--allow-non-loopback",
        action="store_true",
        help="allow a host other than loopback; the emulator has one fixed, public API key",
    )
    parser.add_argument("--access-log", action="store_true", help="log every request (slower)")
    guesses = parser.add_argument_group(
        "profile", "how to answer where Kizen's behaviour is undocumented (see docs/emulator.md)"
    )
    guesses.add_argument(
        "--profile", choices=PROFILES, default="default", help="a named profile (default: default)"
    )
    guesses.add_argument(
        "--search-scope", choices=get_args(SearchScope), help="what the list's `search` matches"
    )
    guesses.add_argument("--date-field", choices=get_args(DateField), help="what from_date/to_date compare")
    guesses.add_argument(
        "--date-granularity", choices=get_args(DateGranularity), help="compare instants or calendar days"
    )
    guesses.add_argument("--upper-bound", choices=get_args(UpperBound), help="whether to_date is included")
    guesses.add_argument(
        "--visibility", choices=get_args(Visibility), help="which activities the API user may see"
    )
    guesses.add_argument(
        "--commit-on-500",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="whether a request answered with an injected 500 was stored first",
    )
    update_guesses = parser.add_argument_group(
        "update rules", "how updates behave where Kizen's behaviour is undocumented (see docs/emulator.md)"
    )
    update_guesses.add_argument(
        "--put",
        choices=("replace", "merge"),
        default="replace",
        help="a guess: fields a PUT leaves out are reset to their defaults (replace) or kept (merge); "
        "default: replace",
    )
    update_guesses.add_argument(
        "--completed-writes",
        choices=("accept", "note_only", "refuse"),
        default="accept",
        help="a guess: what a PUT or PATCH on a completed activity may change; default: accept",
    )
    return parser


_PROFILE_OPTIONS = (
    "search_scope",
    "date_field",
    "date_granularity",
    "upper_bound",
    "visibility",
    "commit_on_500",
)


def profile_from_args(args: argparse.Namespace) -> Profile:
    """The named profile, with the options given one by one laid over it."""
    overrides = {name: getattr(args, name) for name in _PROFILE_OPTIONS if getattr(args, name) is not None}
    return PROFILES[args.profile].model_copy(update=overrides)


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    from airflow_provider_kizen.client.config import is_loopback

    if not is_loopback(args.host) and not args.allow_non_loopback:
        print(
            f"kizen-emulator: refusing to listen on {args.host}, which is not loopback; "
            "pass --allow-non-loopback if you really mean it",
            file=sys.stderr,
        )
        return 2
    # FastAPI and uvicorn are imported only once the arguments are known to be good.
    from airflow_provider_kizen.emulator.app import Emulator
    from airflow_provider_kizen.emulator.server import bind_socket, build_server
    from airflow_provider_kizen.emulator.testing import connection_uri
    from airflow_provider_kizen.emulator.update_rules import UpdateRules

    sock = bind_socket(args.host, args.port)
    port = sock.getsockname()[1]
    profile = profile_from_args(args)
    update_rules = UpdateRules(put=args.put, completed_writes=args.completed_writes)
    emulator = Emulator(
        state_file=args.state_file, seed=args.seed, profile=profile, update_rules=update_rules
    )
    server = build_server(emulator, host=args.host, port=port, access_log=args.access_log)
    # The socket already listens, so a client that reads these lines may connect at once.
    print(f"Kizen emulator listening on http://{args.host}:{port}", flush=True)
    print(f"AIRFLOW_CONN_KIZEN_DEFAULT='{connection_uri(args.host, port)}'", flush=True)
    if profile != PROFILES["default"]:
        print(f"Profile: {profile.model_dump_json()}", flush=True)
    try:
        server.run(sockets=[sock])
    finally:
        emulator.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
