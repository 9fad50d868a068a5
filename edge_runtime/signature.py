"""An optional Ed25519 signature of a bundle: proves who made it, where the hashes only prove it is intact.

``manifest.sig`` holds the base64 signature of the exact bytes of ``manifest.json``; the manifest lists
the sha256 of every file the runtime reads, so the signature covers the whole bundle. Keys are PEM
files (``openssl genpkey -algorithm ed25519 -out key.pem``, ``openssl pkey -in key.pem -pubout -out
key.pub.pem``). Needs the ``cryptography`` package (``pip install 'mobilebert-edge[sign]'``), imported
only here and only when a key is given: the runtime without it is unchanged.
"""

from __future__ import annotations

import base64
import binascii
import os
from pathlib import Path
from typing import Any

from edge_runtime.atomic import atomic_write
from edge_runtime.bundle import MANIFEST
from edge_runtime.errors import BundleError, InputError

SIGNATURE = "manifest.sig"
_INSTALL = "install it with: pip install 'mobilebert-edge[sign]'"


def _serialization() -> Any:
    try:
        from cryptography.hazmat.primitives import serialization
    except ModuleNotFoundError:
        raise InputError("signing and checking signatures need the cryptography package", hint=_INSTALL) from None
    return serialization


def _read_key(path: str | os.PathLike[str], private: bool) -> Any:
    """An Ed25519 key from a PEM file; ``InputError`` naming the file for anything else."""
    serialization = _serialization()
    from cryptography.hazmat.primitives.asymmetric import ed25519

    kind = "private" if private else "public"
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as error:
        raise InputError(f"{kind} key {path}: cannot read it ({error.strerror})", hint="check the path") from None
    try:
        key = (serialization.load_pem_private_key(data, password=None) if private
               else serialization.load_pem_public_key(data))
    except (ValueError, TypeError) as error:
        hint = "pass the .pub.pem file made by 'openssl pkey -in KEY -pubout'" if not private else (
            "pass an unencrypted PEM private key ('openssl genpkey -algorithm ed25519')")
        raise InputError(f"{kind} key {path}: not a PEM {kind} key ({error})", hint=hint) from None
    wanted = ed25519.Ed25519PrivateKey if private else ed25519.Ed25519PublicKey
    if not isinstance(key, wanted):
        raise InputError(f"{kind} key {path}: not an Ed25519 key", expected="Ed25519", found=type(key).__name__,
                         hint="make one with: openssl genpkey -algorithm ed25519 -out key.pem")
    return key


def load_private_key(path: str | os.PathLike[str]) -> Any:
    """The Ed25519 private key in a PEM file (checked before an export starts)."""
    return _read_key(path, private=True)


def sign_bundle(bundle: str | os.PathLike[str], private_key: Any) -> Path:
    """Write ``manifest.sig`` (atomically) for the bundle's manifest as it is now; ``private_key`` is a
    key from :func:`load_private_key` or a path to one. Returns the signature file."""
    bundle = Path(bundle)
    key = private_key if not isinstance(private_key, (str, os.PathLike)) else load_private_key(private_key)
    signature = key.sign((bundle / MANIFEST).read_bytes())
    with atomic_write(bundle / SIGNATURE) as handle:
        handle.write(base64.b64encode(signature).decode("ascii") + "\n")
    return bundle / SIGNATURE


def verify_signature(bundle: str | os.PathLike[str], public_key: str | os.PathLike[str]) -> str:
    """Check ``manifest.sig`` against ``manifest.json`` with the public key; ``BundleError`` when missing,
    malformed or not made by the matching private key. Returns the key's fingerprint (sha256, 16 hex)."""
    import hashlib

    key = _read_key(public_key, private=False)
    from cryptography.exceptions import InvalidSignature

    bundle = Path(bundle)
    path = bundle / SIGNATURE
    if not path.is_file():
        raise BundleError(f"bundle {bundle}: {SIGNATURE} is missing: the bundle is not signed",
                          hint="export it with --sign KEY, or check it without --public-key")
    try:
        signature = base64.b64decode(path.read_text(encoding="ascii").strip(), validate=True)
    except (UnicodeDecodeError, binascii.Error):
        raise BundleError(f"bundle {bundle}: {SIGNATURE} is malformed", expected="one base64 line") from None
    try:
        key.verify(signature, (bundle / MANIFEST).read_bytes())
    except InvalidSignature:
        raise BundleError(
            f"bundle {bundle}: the signature does not match (the manifest was changed after signing, "
            f"or was signed with another key than {Path(public_key).name})",
            hint="do not use this bundle; get it again from its maker",
        ) from None
    raw = key.public_bytes(_serialization().Encoding.Raw, _serialization().PublicFormat.Raw)
    return hashlib.sha256(raw).hexdigest()[:16]
