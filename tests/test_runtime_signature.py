"""An Ed25519 signature (manifest.sig) catches what the hashes cannot: a bundle changed and re-hashed."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from runtime_helpers import copy_bundle, load_manifest, relabel

from edge_runtime.bundle import write_manifest
from edge_runtime.errors import InputError
from edge_runtime.signature import SIGNATURE, load_private_key, sign_bundle, verify_signature
from mobilebert_edge.cli import main

serialization = pytest.importorskip("cryptography.hazmat.primitives.serialization")
from cryptography.hazmat.primitives.asymmetric import ed25519, rsa  # noqa: E402


def _keys(folder: Path, name: str) -> tuple[Path, Path]:
    """An Ed25519 key pair as the PEM files openssl writes: (private, public)."""
    key = ed25519.Ed25519PrivateKey.generate()
    private, public = folder / f"{name}.pem", folder / f"{name}.pub.pem"
    private.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                          serialization.NoEncryption()))
    public.write_bytes(key.public_key().public_bytes(serialization.Encoding.PEM,
                                                     serialization.PublicFormat.SubjectPublicKeyInfo))
    return private, public


@pytest.fixture()
def signed(tiny_bundle_fp32: Path, tmp_path: Path) -> tuple[Path, Path]:
    """A signed copy of the fp32 bundle and the matching public key."""
    bundle = copy_bundle(tiny_bundle_fp32, tmp_path / "bundle")
    private, public = _keys(tmp_path, "maker")
    sign_bundle(bundle, private)
    return bundle, public


def test_check_verifies_the_signature(signed, capsys):
    bundle, public = signed
    assert main(["check", str(bundle), "--public-key", str(public)]) == 0
    out = capsys.readouterr().out
    assert re.search(rf"bundle {re.escape(str(bundle))}: signature OK \(Ed25519 key [0-9a-f]{{16}}\)", out)
    assert "all passed" in out


def test_a_forged_bundle_passes_the_hashes_but_not_the_signature(signed, capsys):
    """Labels reversed, golden probabilities renamed alike and every hash recomputed: only the signature sees it."""
    bundle, public = signed
    manifest = load_manifest(bundle)
    write_manifest(bundle, relabel(manifest, manifest["labels"][::-1]))
    assert main(["check", str(bundle)]) == 0  # consistent, so the hashes and golden texts cannot tell
    capsys.readouterr()
    assert main(["check", str(bundle), "--public-key", str(public)]) == 1
    err = capsys.readouterr().err
    assert err.startswith(f"error: bundle {bundle}: the signature does not match (the manifest was changed after "
                          "signing, or was signed with another key than maker.pub.pem); do not use this bundle")


def test_another_key_a_missing_signature_and_bad_keys(signed, tmp_path, capsys):
    bundle, _ = signed
    _, stranger = _keys(tmp_path, "stranger")
    assert main(["check", str(bundle), "--public-key", str(stranger)]) == 1
    assert "signed with another key than stranger.pub.pem" in capsys.readouterr().err
    (bundle / SIGNATURE).unlink()
    assert main(["check", str(bundle), "--public-key", str(stranger)]) == 1
    assert capsys.readouterr().err == (f"error: bundle {bundle}: manifest.sig is missing: the bundle is not signed; "
                                       "export it with --sign KEY, or check it without --public-key\n")
    private, _ = _keys(tmp_path, "other")
    with pytest.raises(InputError, match=re.escape(f"public key {private}: not a PEM public key")):
        verify_signature(bundle, private)
    rsa_key = tmp_path / "rsa.pem"
    rsa_key.write_bytes(rsa.generate_private_key(public_exponent=65537, key_size=1024).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
    with pytest.raises(InputError, match=re.escape(f"private key {rsa_key}: not an Ed25519 key (expected Ed25519, found")):
        load_private_key(rsa_key)
    with pytest.raises(InputError, match=re.escape(f"private key {tmp_path / 'nope.pem'}: cannot read it")):
        load_private_key(tmp_path / "nope.pem")


def test_export_signs_the_bundle_it_writes(tiny_mobilebert_dir, tmp_path, capsys):
    private, public = _keys(tmp_path, "maker")
    out = tmp_path / "signed"
    assert main(["export", str(tiny_mobilebert_dir), "--out", str(out), "--precision", "fp32", "--sign", str(private)]) == 0
    assert (out / SIGNATURE).is_file()
    assert verify_signature(out, public)
    capsys.readouterr()
    assert main(["export", str(tiny_mobilebert_dir), "--out", str(tmp_path / "never"), "--sign", str(public)]) == 1
    assert f"error: private key {public}: not a PEM private key" in capsys.readouterr().err
    assert not (tmp_path / "never").exists()  # refused before exporting anything
