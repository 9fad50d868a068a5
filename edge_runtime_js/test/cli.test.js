// The Node CLI against the Python CLI: the same lines for predict (--json and plain) and check, the same exit codes.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import path from "node:path";
import { test } from "node:test";

import { pyJson } from "../src/pyformat.js";
import { fixture, ROOT } from "./fixtures.js";

const BIN = path.join(ROOT, "bin", "mobilebert-edge.js");
const REPO = path.dirname(ROOT);
const runs = fixture("cli.json");

/** @param {string[]} argv @param {string} [input] */
function cli(argv, input) {
  const done = spawnSync(process.execPath, [BIN, ...argv], { cwd: REPO, encoding: "utf8", input });
  return { stdout: done.stdout, stderr: done.stderr, code: done.status };
}

test("predict --json prints Python's JSON lines (same keys, labels, probabilities within 1e-4) and errors", () => {
  const python = runs.predict;
  const node = cli(python.argv);
  assert.equal(node.code, python.code);
  assert.equal(node.stderr, python.stderr);
  const [ours, theirs] = [node.stdout, python.stdout].map((s) => s.trim().split("\n"));
  assert.equal(ours.length, theirs.length);
  ours.forEach((line, i) => {
    const [a, b] = [JSON.parse(line), JSON.parse(theirs[i])];
    assert.deepEqual(Object.keys(a), Object.keys(b));
    assert.equal(a.text, b.text);
    assert.equal(a.label, b.label);
    for (const label of Object.keys(b.probabilities)) assert.ok(Math.abs(a.probabilities[label] - b.probabilities[label]) <= 1e-4);
    assert.equal(pyJson(b), theirs[i], "the line format is Python's byte for byte");
  });
});

test("predict without --json, with --min-confidence: label, score, sure/unsure, text; the count on stderr", () => {
  const python = runs.predict_plain;
  const node = cli(python.argv);
  assert.equal(node.code, python.code);
  assert.equal(node.stderr, python.stderr);
  const strip = (s) => s.split("\n").map((l) => l.split("\t").filter((_, k) => k !== 1).join("\t"));
  assert.deepEqual(strip(node.stdout), strip(python.stdout));
});

test("check replays the golden texts as Python does", () => {
  const python = runs.check;
  const node = cli(python.argv);
  assert.equal(node.code, python.code, node.stderr);
  const shape = (s) => s.split("\n").map((l) => l.replace(/\d\.\d\de[-+]\d\d/g, "X"));
  assert.deepEqual(shape(node.stdout), shape(python.stdout));
});

test("stdin: one text per line; '-' reads stdin too", () => {
  const bundle = runs.predict.argv[2];
  const node = cli(["predict", bundle], "a great film\n\nmeh\n");
  assert.equal(node.code, 1);
  assert.equal(node.stdout.trim().split("\n").length, 2);
  assert.equal(node.stderr, "error: stdin line 2 is empty; not classified\n");
  assert.equal(cli(["predict", bundle, "-"], "fine\n").code, 0);
  assert.equal(cli(["predict", bundle], "").stderr, "error: read no text from stdin; pass texts as arguments, or pipe one text per line\n");
  const bad = cli(["predict", bundle], Buffer.from([0x61, 0x0a, 0xff, 0x0a]));
  assert.equal(bad.stderr, "error: stdin line 2 is not valid UTF-8 (byte 1); convert the input to UTF-8 first, e.g. iconv -f cp949 -t utf-8\n");
});

test("a user error is one error: line and exit 1; a usage error exits 2", () => {
  const missing = cli(["predict", "no/such/bundle", "text"]);
  assert.deepEqual([missing.code, missing.stdout], [1, ""]);
  assert.equal(missing.stderr, "error: bundle no/such/bundle: no such folder; pass the folder written by 'mobilebert-edge export'\n");
  for (const argv of [["predict"], ["predict", "--batch-size", "0", "b", "t"], ["predict", "--nope", "b"], ["frobnicate"], ["check", "a", "b"], ["check", "--threads", "100000", "b"]]) {
    const done = cli(argv);
    assert.equal(done.code, 2, `${argv}: ${done.stderr}`);
    assert.match(done.stderr, /^usage: /);
  }
  assert.equal(cli(["predict", "--help"]).code, 0);
});

test("check --public-key verifies the signature Python made, and refuses a stranger's key and an unsigned bundle", () => {
  const signed = runs.check_signed;
  const node = cli(signed.argv);
  assert.equal(node.code, 0, node.stderr);
  assert.equal(node.stdout.split("\n")[1], signed.stdout.split("\n")[1], "the same 'signature OK (Ed25519 key <fingerprint>)' line");
  assert.match(node.stdout.split("\n")[1], /: signature OK \(Ed25519 key [0-9a-f]{16}\)$/);
  for (const name of ["check_stranger", "check_unsigned"]) {
    const python = runs[name];
    const ours = cli(python.argv);
    assert.deepEqual([ours.code, ours.stderr], [python.code, python.stderr], name);
    assert.equal(ours.code, 1);
  }
});

test("check --public-key: a key that is not an Ed25519 public key is one error line", () => {
  const [bundle, , key] = runs.check_signed.argv.slice(1);
  const notPem = cli(["check", bundle, "--public-key", bundle + "/manifest.json"]);
  assert.equal(notPem.code, 1);
  assert.equal(notPem.stderr, `error: public key ${bundle}/manifest.json: not a PEM public key; pass the .pub.pem file made by 'openssl pkey -in KEY -pubout'\n`);
  const missing = cli(["check", bundle, "--public-key", `${key}.nope`]);
  assert.equal(missing.stderr, `error: public key ${key}.nope: cannot read it (No such file or directory); check the path\n`);
});
