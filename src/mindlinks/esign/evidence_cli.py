"""`mindlinks evidence ...`: verify an evidence bundle offline, pin trust anchors.

`verify BUNDLE.zip` needs no database, settings or network. Its trust comes, in
this order, from `--ledger-key` / `--ca`, from the copies pinned by an earlier
`trust --url`, or, failing both, from the bundle's own `keys/` copies, which it
says loudly ("TRUST NOT ANCHORED"): the exit code is still 0 when every check
passes, because the bundle is then consistent; whether it is the platform's is
what anchoring answers.

`trust --url https://platform` fetches GET /api/ledger/public-keys and GET
/api/esign/platform-ca.pem once and pins them under
`$XDG_CONFIG_HOME/mindlinks/trust/` (`~/.config/mindlinks/trust/` by default),
printing their fingerprints to compare with what the platform publishes
elsewhere. Existing pins are replaced only with `--force`: keys that change
without notice are exactly what pinning is meant to catch.
"""

from __future__ import annotations

import ipaddress
import json
import os
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Final
from urllib.parse import urlsplit

import typer

from mindlinks.esign.evidence_verify import (
    EvidenceReport,
    Failed,
    certificate_fingerprint,
    format_report,
    ledger_keys_from_argument,
    load_certificates,
    verify_bundle,
    vkeys_from_key_document,
)

if TYPE_CHECKING:
    import httpx

evidence_app = typer.Typer(
    help="Evidence bundles: verify offline, pin trust anchors.", no_args_is_help=True
)

PINNED_KEYS: Final = "ledger-public-keys.json"
PINNED_CA: Final = "platform-ca.pem"
PINNED_SOURCE: Final = "source.json"
PUBLIC_KEYS_PATH: Final = "/api/ledger/public-keys"
PLATFORM_CA_PATH: Final = "/api/esign/platform-ca.pem"
FETCH_TIMEOUT_SECONDS: Final = 15.0
MAX_ANCHOR_BYTES: Final = 1024 * 1024


def trust_dir() -> Path:
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "mindlinks" / "trust"


@dataclass(frozen=True)
class TrustAnchors:
    """The platform's published ledger keys and CA, checked to be what they claim."""

    keys_document: Any
    vkeys: list[str]
    ca_pem: bytes
    source: str

    def fingerprints(self) -> list[str]:
        lines = [f"ledger key {vkey}" for vkey in self.vkeys]
        for cert in load_certificates(self.ca_pem, "the platform CA"):
            subject = cert.subject.human_friendly
            lines.append(f"platform CA {subject}: SHA-256 {certificate_fingerprint(cert)}")
        return lines


def anchors_from(keys_document: Any, ca_pem: bytes, source: str) -> TrustAnchors:
    vkeys = vkeys_from_key_document(keys_document)
    certs = load_certificates(ca_pem, "the platform CA")
    if not certs:
        raise Failed("the platform CA document holds no certificate")
    return TrustAnchors(keys_document, vkeys, ca_pem, source)


def check_url(url: str) -> str:
    """The platform's base URL: https, or http to this machine only."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if parts.scheme not in ("https", "http") or not host:
        raise Failed(f"{url!r} is not an http(s) URL")
    if parts.scheme == "http":
        try:
            loopback = ipaddress.ip_address(host).is_loopback
        except ValueError:
            loopback = host == "localhost"
        if not loopback:
            raise Failed("trust anchors are fetched over https (plain http only from localhost)")
    return url.rstrip("/")


def _get(client: httpx.Client, url: str) -> bytes:
    import httpx

    try:
        response = client.get(url)
    except httpx.HTTPError as exc:
        raise Failed(f"GET {url} failed: {exc}") from None
    if response.status_code != 200:
        raise Failed(f"GET {url} answered {response.status_code}")
    if len(response.content) > MAX_ANCHOR_BYTES:
        raise Failed(f"GET {url} answered more than {MAX_ANCHOR_BYTES} bytes")
    return response.content


def fetch_trust_anchors(base_url: str, client: httpx.Client) -> TrustAnchors:
    keys_url, ca_url = base_url + PUBLIC_KEYS_PATH, base_url + PLATFORM_CA_PATH
    try:
        document = json.loads(_get(client, keys_url))
    except (ValueError, RecursionError) as exc:
        raise Failed(f"GET {keys_url} is not JSON: {exc}") from None
    return anchors_from(document, _get(client, ca_url), base_url)


def load_pins(folder: Path | None = None) -> TrustAnchors | None:
    folder = folder or trust_dir()
    keys_file, ca_file = folder / PINNED_KEYS, folder / PINNED_CA
    if not keys_file.exists() and not ca_file.exists():
        return None
    try:
        source = json.loads((folder / PINNED_SOURCE).read_text("utf-8")).get("url", "?")
    except (OSError, ValueError, AttributeError):
        source = "?"
    try:
        document = json.loads(keys_file.read_text("utf-8"))
        return anchors_from(document, ca_file.read_bytes(), str(source))
    except (OSError, ValueError) as exc:
        raise Failed(f"the pinned trust anchors in {folder} are unreadable: {exc}") from None


def _write_atomically(path: Path, data: bytes) -> None:
    staged = path.with_name(f".{path.name}.{os.getpid()}")
    staged.write_bytes(data)
    os.replace(staged, path)


def store_pins(anchors: TrustAnchors, folder: Path, *, force: bool) -> str:
    """Pin the anchors; 'pinned', 'unchanged', or Failed when others are pinned."""
    keys_bytes = (json.dumps(anchors.keys_document, indent=2, sort_keys=True) + "\n").encode()
    current = load_pins(folder)
    if current is not None:
        same = set(current.vkeys) == set(anchors.vkeys) and current.ca_pem == anchors.ca_pem
        if same:
            return "unchanged"
        if not force:
            raise Failed(
                f"other trust anchors are pinned in {folder} (from {current.source}): "
                + "; ".join(current.fingerprints())
                + ". Replace them with --force only if you know why the platform's keys changed."
            )
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    _write_atomically(folder / PINNED_KEYS, keys_bytes)
    _write_atomically(folder / PINNED_CA, anchors.ca_pem)
    pinned_at = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    source = {"url": anchors.source, "pinned_at": pinned_at}
    _write_atomically(folder / PINNED_SOURCE, (json.dumps(source, indent=2) + "\n").encode())
    return "pinned"


@evidence_app.command("verify")
def verify(
    bundle: Annotated[Path, typer.Argument(help="The evidence bundle (zip)")],
    ledger_key: Annotated[
        list[str] | None,
        typer.Option(
            "--ledger-key", help="A trusted ledger vkey, or a public-key JSON file (repeatable)"
        ),
    ] = None,
    ca: Annotated[
        Path | None, typer.Option("--ca", help="The trusted platform CA certificate (PEM)")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON")] = False,
) -> None:
    """Verify an evidence bundle offline; exit 0 if every check passes, 1 otherwise."""
    try:
        vkeys = [vk for value in ledger_key or [] for vk in ledger_keys_from_argument(value)]
        vkeys_or_none = vkeys if ledger_key else None
        ca_pem = ca.read_bytes() if ca is not None else None
        pins = load_pins() if vkeys_or_none is None or ca_pem is None else None
        data = bundle.read_bytes()
    except (Failed, OSError) as exc:
        typer.echo(f"FAILED: {exc}")
        raise typer.Exit(1) from None
    notes = []
    if pins is not None:
        if vkeys_or_none is None:
            vkeys_or_none = pins.vkeys
            notes.append(f"ledger keys pinned from {pins.source}")
        if ca_pem is None:
            ca_pem = pins.ca_pem
            notes.append(f"platform CA pinned from {pins.source}")
    report = verify_bundle(data, trusted_ledger_keys=vkeys_or_none, trusted_ca_pem=ca_pem)
    _print(report, str(bundle), notes, as_json)
    if not report.ok:
        raise typer.Exit(1)


def _print(report: EvidenceReport, source: str, notes: list[str], as_json: bool) -> None:
    if as_json:
        typer.echo(json.dumps(report.to_dict() | {"notes": notes}, indent=2, ensure_ascii=False))
        return
    lines = format_report(report, source)
    lines[1:1] = [f"   ({note})" for note in notes]
    typer.echo("\n".join(lines))


@evidence_app.command("trust")
def trust(
    url: Annotated[str, typer.Option("--url", help="The platform's address, e.g. https://…")],
    force: Annotated[
        bool, typer.Option("--force", help="Replace trust anchors pinned earlier")
    ] = False,
) -> None:
    """Fetch and pin the platform's ledger keys and signing CA for `verify`."""
    import httpx

    folder = trust_dir()
    try:
        base_url = check_url(url)
        with httpx.Client(timeout=FETCH_TIMEOUT_SECONDS, follow_redirects=False) as client:
            anchors = fetch_trust_anchors(base_url, client)
        outcome = store_pins(anchors, folder, force=force)
    except Failed as exc:
        typer.echo(f"FAILED: {exc}")
        raise typer.Exit(1) from None
    verb = "already pinned (unchanged)" if outcome == "unchanged" else f"pinned in {folder}"
    typer.echo(f"Trust anchors of {base_url} {verb}:")
    for line in anchors.fingerprints():
        typer.echo(f"  {line}")
    typer.echo("Compare these fingerprints with the ones the platform publishes elsewhere.")
