/**
 * The bundle's optional Ed25519 signature, as `edge_runtime.signature` checks it (Node: node:crypto
 * has Ed25519 built in). `manifest.sig` holds the base64 signature of the exact bytes of
 * `manifest.json`, whose sha256 list covers every other file.
 */

import { createHash, createPublicKey, verify } from "node:crypto";
import { readFile } from "node:fs/promises";
import path from "node:path";

import { MANIFEST } from "./bundle.js";
import { BundleError, InputError } from "./errors.js";

export const SIGNATURE = "manifest.sig";

/**
 * The Ed25519 public key in a PEM file; InputError naming the file for anything else.
 * @param {string} file
 * @returns {Promise<import("node:crypto").KeyObject>}
 */
export async function readPublicKey(file) {
  let data;
  try {
    data = await readFile(file);
  } catch (error) {
    throw new InputError(`public key ${file}: cannot read it (${describe(error)})`, { hint: "check the path" });
  }
  let key;
  try {
    key = createPublicKey(data);
  } catch {
    throw new InputError(`public key ${file}: not a PEM public key`, { hint: "pass the .pub.pem file made by 'openssl pkey -in KEY -pubout'" });
  }
  if (key.asymmetricKeyType !== "ed25519") {
    throw new InputError(`public key ${file}: not an Ed25519 key`, {
      expected: "Ed25519",
      found: String(key.asymmetricKeyType).toUpperCase(),
      hint: "make one with: openssl genpkey -algorithm ed25519 -out key.pem",
    });
  }
  return key;
}

/**
 * Check `manifest.sig` against `manifest.json` with the public key; BundleError when missing, malformed
 * or not made by the matching private key. Resolves to the key's fingerprint (sha256 of its raw bytes, 16 hex).
 * @param {string} bundle the bundle folder
 * @param {string} publicKey a PEM file
 */
export async function verifySignature(bundle, publicKey) {
  const key = await readPublicKey(publicKey);
  const text = await readFile(path.join(bundle, SIGNATURE), "latin1").catch(() => null);
  if (text === null) {
    throw new BundleError(`bundle ${bundle}: ${SIGNATURE} is missing: the bundle is not signed`, {
      hint: "export it with --sign KEY, or check it without --public-key",
    });
  }
  const line = text.trim();
  if (!/^[A-Za-z0-9+/]*={0,2}$/.test(line) || line.length % 4 !== 0) {
    throw new BundleError(`bundle ${bundle}: ${SIGNATURE} is malformed`, { expected: "one base64 line" });
  }
  const manifest = await readFile(path.join(bundle, MANIFEST));
  if (!verify(null, manifest, key, Buffer.from(line, "base64"))) {
    throw new BundleError(
      `bundle ${bundle}: the signature does not match (the manifest was changed after signing, ` +
        `or was signed with another key than ${path.basename(publicKey)})`,
      { hint: "do not use this bundle; get it again from its maker" },
    );
  }
  const raw = Buffer.from(/** @type {string} */ (key.export({ format: "jwk" }).x), "base64url");
  return createHash("sha256").update(raw).digest("hex").slice(0, 16);
}

/** Python's strerror for the usual errno codes. @param {any} error */
function describe(error) {
  return { ENOENT: "No such file or directory", EACCES: "Permission denied", EISDIR: "Is a directory" }[error?.code] ?? String(error?.message ?? error);
}
