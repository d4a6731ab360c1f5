"""Command line: ``bridge serve | check-config | mint-login-token`` (also ``python -m bridge``)."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from bridge import __version__
from bridge.errors import ConfigError

if TYPE_CHECKING:  # `bridge serve` loads no schema: its check runs in a child process
    from bridge.settings.root import Settings

EXIT_OK, EXIT_INVALID = 0, 2
#: what ``bridge --help`` says first (plain text: the docstring's markup would show as is)
DESCRIPTION = (
    "An identity-bridge gateway for support widgets. 'python -m bridge' is the same program."
)


def _config_path(given: str | None) -> Path:
    return Path(given or os.environ.get("BRIDGE_CONFIG") or "config.yaml")


def _exists(path: Path) -> None:
    if not path.exists():
        print(
            f"{path}: no such file. Point at a config file with --config PATH or the "
            "BRIDGE_CONFIG variable (config.example.yaml is a place to start).",
            file=sys.stderr,
        )
        raise SystemExit(EXIT_INVALID)


def _refuse(path: Path, problems: list[str]) -> SystemExit:
    print(f"{path}: {len(problems)} problem(s):", file=sys.stderr)
    for problem in problems:
        print(f"  {problem}", file=sys.stderr)
    return SystemExit(EXIT_INVALID)


def _load(path: Path, *, production: bool = False) -> Settings:
    _exists(path)
    from bridge.settings.loading import load_settings

    try:
        return load_settings(path, production=production)
    except ConfigError as exc:
        raise _refuse(path, exc.problems) from None


def cmd_serve(args: argparse.Namespace) -> int:
    from bridge.serve import ConfigProblems, serve

    path = _config_path(args.config)
    _exists(path)
    try:  # the whole check, before any worker; with --host applied, which may have moved a
        # development-only demo, or the example's public secrets, off loopback
        return serve(
            path, host=args.host, port=args.port, workers=args.workers, share=args.reuse_port
        )
    except ConfigProblems as exc:
        refusal = _refuse(path, exc.problems)
        if exc.invalid:  # the file itself: as check-config and mint-login-token exit
            raise refusal from None
        return EXIT_INVALID  # refused for the address it would serve on


def cmd_check_config(args: argparse.Namespace) -> int:
    path = _config_path(args.config)
    settings = _load(path, production=args.production)
    from bridge.targets.registry import build_targets

    targets = build_targets(settings.targets, name_claims=settings.upstream.name_claims)
    print(f"{path}: valid{' for production' if args.production else ''}")
    if settings.upstreams is None:
        system = settings.upstream
        print(f"  upstream: {', '.join(system.algorithms)}, cookie {system.cookie!r}")
    else:
        for login, entry in settings.login_systems:
            print(f"  upstream {login}: {', '.join(entry.algorithms)}, cookie {entry.cookie!r}, "
                  f"issuer {entry.issuer!r}")  # fmt: skip
    for name, target in targets.items():
        default = " [default]" if name == settings.default else ""
        print(f"  target {name}: {target.summary()}{default}")
    mode = settings.redis.mode
    print(f"  cache: {'in-process' if mode == 'memory' else f'redis ({mode})'}")
    for warning in settings.warnings():
        print(f"warning: {warning}", file=sys.stderr)
    return EXIT_OK


def cmd_mint_login_token(args: argparse.Namespace) -> int:
    """A development login token, signed like the login system would, with the HS secret."""
    settings = _load(_config_path(args.config))
    logins = dict(settings.login_systems)
    system = logins.get(args.login) if args.login else settings.upstream
    if system is None:
        print(f"no login system is named {args.login!r} ({', '.join(logins)})", file=sys.stderr)
        return EXIT_INVALID
    if system.family != "HS":
        print("mint-login-token needs an HS upstream (secrets); this config uses keys_url",
              file=sys.stderr)  # fmt: skip
        return EXIT_INVALID
    from bridge.login.devtokens import mint_login_token

    minted = mint_login_token(
        system, sub=args.sub, email=args.email, name=args.name, groups=args.group, ttl=args.ttl
    )
    print(minted.token)
    return EXIT_OK


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return value


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="bridge", description=DESCRIPTION)
    parser.add_argument("--version", action="version", version=f"bridge {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)
    config_help = "YAML config (default: $BRIDGE_CONFIG, else ./config.yaml)"

    serve = sub.add_parser("serve", help="run the gateway")
    serve.add_argument("--config", help=config_help)
    serve.add_argument("--host", help="override server.host")
    serve.add_argument("--port", type=int, help="override server.port")
    serve.add_argument("--workers", type=_positive, default=1, help="processes sharing the port")
    serve.add_argument(
        "--reuse-port",
        action="store_true",
        help="share the port with a server already listening there (otherwise refused)",
    )
    serve.set_defaults(func=cmd_serve)

    check = sub.add_parser("check-config", help="validate the config; exit 0 if valid, 2 if not")
    check.add_argument("--config", help=config_help)
    check.add_argument(
        "--production",
        action="store_true",
        help="check as if the listener were public: any development secret or placeholder "
        "is a problem (for a deploy pipeline)",
    )
    check.set_defaults(func=cmd_check_config)

    mint = sub.add_parser("mint-login-token", help="print a development login token")
    mint.add_argument("--sub", required=True, help="login user id")
    mint.add_argument("--email")
    mint.add_argument("--name")
    mint.add_argument("--group", action="append", default=[], help="a group name (repeatable)")
    mint.add_argument("--ttl", type=_positive, default=3600, help="lifetime in seconds")
    mint.add_argument("--login", help="the login system (its name) to mint for; default: the first")
    mint.add_argument("--config", help=config_help)
    mint.set_defaults(func=cmd_mint_login_token)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    code: int = args.func(args)
    return code


if __name__ == "__main__":
    sys.exit(main())
