/**
 * `predict` and `check`, with the Python CLI's contract: the same output lines, one `error:` line
 * and exit 1 for a user error, usage and exit 2 for a usage error.
 */

import { availableParallelism } from "node:os";
import { createInterface } from "node:readline";
import { parseArgs } from "node:util";

import { DEFAULT_BATCH_SIZE, DEFAULT_BATCH_TOKENS } from "./batching.js";
import { goldenProbabilities } from "./bundle.js";
import { EdgeError, InputError } from "./errors.js";
import { loadClassifier } from "./node.js";
import { pyExp, pyFixed, pyG, pyJson } from "./pyformat.js";
import { verifySignature } from "./signature.js";
import { isBlank } from "./text.js";

const PROG = "mobilebert-edge-js";
const PER_CORE = 4;
const PROMPT = "Enter a sentence (empty line or Ctrl-D to quit): ";
const USAGE = {
  predict: `usage: ${PROG} predict [-h] [--json] [--min-confidence P] [--threads N] [--batch-size N] [--batch-tokens N] BUNDLE [TEXT ...]`,
  check: `usage: ${PROG} check [-h] [--public-key KEY] [--threads N] [--batch-size N] BUNDLE`,
};
const HELP = {
  predict:
    "Classify texts with an exported bundle. Texts come from the arguments; without any (or with '-'), one text per line\n" +
    "from stdin; on a terminal, from an interactive prompt. Prints label<TAB>score<TAB>text per text (--json: one JSON\n" +
    "object per line, as the Python CLI prints them). An empty text is not classified: an error line on stderr names it,\n" +
    `the others go on, and the exit code is 1. Defaults: --batch-size ${DEFAULT_BATCH_SIZE}, --batch-tokens ${DEFAULT_BATCH_TOKENS}.`,
  check:
    "Verify a bundle's files and hashes, then run its golden texts and compare the probabilities with those measured at\n" +
    "export. Exit 0 if all pass, 1 otherwise. --public-key KEY: also verify the bundle's signature (manifest.sig) with\n" +
    "this Ed25519 public key (PEM): proves who made the bundle, which the hashes cannot.",
};

class UsageError extends Error {}

/**
 * @param {string} value
 * @param {string} flag
 * @param {{probability?: boolean}} [kind]
 */
function number(value, flag, { probability = false } = {}) {
  if (value === undefined) return undefined;
  const x = Number(value);
  if (probability) {
    if (value.trim() === "" || !(x >= 0 && x <= 1)) throw new UsageError(`argument ${flag}: expected a probability in [0, 1], found '${value}'`);
    return x;
  }
  if (!/^\s*[+-]?\d+\s*$/.test(value) || x < 1) throw new UsageError(`argument ${flag}: expected a positive integer, found '${value}'`);
  const cores = availableParallelism();
  if (flag === "--threads" && x > PER_CORE * cores) {
    // as edge_runtime.limits: more threads than cores only slow onnxruntime down
    throw new UsageError(`argument ${flag}: expected 1..${PER_CORE * cores} (${PER_CORE} x the ${cores} usable cores), found '${value}'`);
  }
  return x;
}

/** @param {string[]} argv */
function parse(argv) {
  const [command, ...rest] = argv;
  if (command === "-h" || command === "--help" || command === undefined) {
    throw new UsageError(command === undefined ? "the following arguments are required: command" : "", { cause: "help" });
  }
  if (!(command in USAGE)) throw new UsageError(`argument command: invalid choice: '${command}' (choose from predict, check)`);
  const options = {
    help: { type: "boolean", short: "h" },
    threads: { type: "string" },
    "batch-size": { type: "string" },
    ...(command === "predict" ? { json: { type: "boolean" }, "min-confidence": { type: "string" }, "batch-tokens": { type: "string" } } : {}),
    ...(command === "check" ? { "public-key": { type: "string" } } : {}),
  };
  let parsed;
  try {
    parsed = parseArgs({ args: rest, options, allowPositionals: true, strict: true });
  } catch (error) {
    throw new UsageError(String(error.message).split("\n")[0], { cause: command });
  }
  const { values, positionals } = parsed;
  if (values.help) return { command, help: true };
  if (!positionals.length) throw new UsageError("the following arguments are required: BUNDLE", { cause: command });
  if (command === "check" && positionals.length > 1) throw new UsageError(`unrecognized arguments: ${positionals.slice(1).join(" ")}`, { cause: command });
  const checked = (fn) => {
    try {
      return fn();
    } catch (error) {
      throw new UsageError(error.message, { cause: command });
    }
  };
  return {
    command,
    bundle: positionals[0],
    texts: positionals.slice(1),
    json: Boolean(values.json),
    publicKey: /** @type {string | undefined} */ (values["public-key"]),
    threads: checked(() => number(values.threads, "--threads")),
    batchSize: checked(() => number(values["batch-size"], "--batch-size")),
    batchTokens: checked(() => number(values["batch-tokens"], "--batch-tokens")) ?? DEFAULT_BATCH_TOKENS,
    minConfidence: checked(() => number(values["min-confidence"], "--min-confidence", { probability: true })),
  };
}

/**
 * Lines of stdin as UTF-8 (a leading BOM dropped), streamed: one line in memory at a time.
 * @returns {AsyncGenerator<string>}
 */
async function* stdinLines() {
  let number = 0;
  const decode = (bytes) => {
    number++;
    try {
      return new TextDecoder("utf-8", { fatal: true, ignoreBOM: number !== 1 }).decode(bytes).replace(/[\r\n]+$/, "");
    } catch {
      throw new InputError(`stdin line ${number} is not valid UTF-8 (byte ${firstBadByte(bytes) + 1})`, {
        hint: "convert the input to UTF-8 first, e.g. iconv -f cp949 -t utf-8",
      });
    }
  };
  let rest = Buffer.alloc(0);
  for await (const chunk of process.stdin) {
    rest = Buffer.concat([rest, chunk]);
    let end;
    while ((end = rest.indexOf(0x0a)) !== -1) {
      yield decode(rest.subarray(0, end + 1));
      rest = rest.subarray(end + 1);
    }
  }
  if (rest.length) yield decode(rest);
}

/**
 * Index of the first byte of the first invalid UTF-8 sequence (Python's `UnicodeDecodeError.start`).
 * @param {Uint8Array} bytes
 */
function firstBadByte(bytes) {
  const decodes = (end, stream) => {
    try {
      new TextDecoder("utf-8", { fatal: true }).decode(bytes.subarray(0, end), { stream });
      return true;
    } catch {
      return false;
    }
  };
  let end = 1;
  while (end <= bytes.length && decodes(end, true)) end++;
  // the bad sequence starts after the last complete character before the byte that broke it
  let start = Math.min(end, bytes.length);
  while (start > 0 && !decodes(start, false)) start--;
  return start;
}

async function* promptLines() {
  const rl = createInterface({ input: process.stdin, output: process.stderr, prompt: PROMPT });
  rl.prompt();
  for await (const line of rl) {
    if (isBlank(line)) break;
    yield line;
    rl.prompt();
  }
  rl.close();
}

/**
 * @param {string} text
 * @param {number[]} probs
 * @param {string[]} labels
 * @param {boolean} asJson
 * @param {boolean | null} unsure
 */
export function formatLine(text, probs, labels, asJson, unsure = null) {
  let best = 0;
  probs.forEach((p, i) => (best = p > probs[best] ? i : best));
  if (asJson) {
    const record = { text, label: labels[best], score: probs[best], probabilities: Object.fromEntries(labels.map((l, i) => [l, probs[i]])) };
    if (unsure !== null) record.unsure = unsure;
    return pyJson(record);
  }
  const oneLine = text.replace(/[\t\r\n]/g, " ");
  const flag = unsure === null ? "" : unsure ? "unsure\t" : "sure\t";
  return `${labels[best]}\t${pyFixed(probs[best], 4)}\t${flag}${oneLine}`;
}

/** @param {ReturnType<typeof parse>} args */
async function runPredict(args) {
  const clf = await loadClassifier(args.bundle, { threads: args.threads });
  const batchSize = args.batchSize ?? DEFAULT_BATCH_SIZE;
  let source, chunk, where;
  if (args.texts.length && !(args.texts.length === 1 && args.texts[0] === "-")) [source, chunk, where] = [args.texts, 16 * batchSize, "text"];
  else if (args.texts.length || !process.stdin.isTTY) [source, chunk, where] = [stdinLines(), 16 * batchSize, "stdin line"];
  else [source, chunk, where] = [promptLines(), 1, "text"];
  let blank = 0;
  let read = 0;
  let unsureCount = 0;
  let scored = 0;
  let pending = [];
  const flush = async () => {
    const proba = await clf.predictProba(pending, { batchSize, batchTokens: args.batchTokens, offset: scored });
    pending.forEach((text, i) => {
      const top = Math.max(...proba[i]);
      const unsure = args.minConfidence === undefined ? null : top < args.minConfidence;
      unsureCount += unsure ? 1 : 0;
      process.stdout.write(`${formatLine(text, proba[i], clf.labels, args.json, unsure)}\n`);
    });
    scored += pending.length;
    pending = [];
  };
  for await (const text of source) {
    read++;
    if (isBlank(text)) {
      blank++;
      process.stderr.write(`error: ${where} ${read} is empty; not classified\n`);
      continue;
    }
    pending.push(text);
    if (pending.length >= chunk) await flush();
  }
  if (pending.length) await flush();
  if (args.minConfidence !== undefined && scored) {
    process.stderr.write(`${unsureCount.toLocaleString("en-US")} of ${scored.toLocaleString("en-US")} texts below --min-confidence ${pyG(args.minConfidence)}: unsure\n`);
  }
  if (!read && where === "stdin line") {
    process.stderr.write("error: read no text from stdin; pass texts as arguments, or pipe one text per line\n");
    return 1;
  }
  return blank ? 1 : 0;
}

/** @param {ReturnType<typeof parse>} args */
async function runCheck(args) {
  const clf = await loadClassifier(args.bundle, { threads: args.threads });
  const golden = clf.manifest.golden ?? {};
  const examples = golden.examples ?? [];
  const atol = golden.atol ?? 1e-3;
  console.log(`bundle ${args.bundle}: files and hashes OK (${Object.keys(clf.manifest.files).length} files)`);
  if (args.publicKey) {
    const fingerprint = await verifySignature(args.bundle, args.publicKey);
    console.log(`bundle ${args.bundle}: signature OK (Ed25519 key ${fingerprint})`);
  }
  if (!examples.length) {
    process.stderr.write(`error: bundle ${args.bundle}: manifest.json has no golden examples to replay\n`);
    return 1;
  }
  const table = goldenProbabilities(clf.manifest, args.bundle);
  const texts = table.map(([text]) => text);
  const sizes = args.batchSize ? [args.batchSize] : [golden.batch_size || 1];
  if (!args.batchSize && golden.batch_invariant && texts.length > sizes[0]) sizes.push(texts.length);
  let failures = 0;
  let worst = 0;
  for (const batchSize of sizes) {
    const found = await clf.predictProba(texts, { batchSize, batchTokens: null });
    table.forEach(([text, want], i) => {
      const diff = Math.max(...want.map((w, k) => Math.abs(w - found[i][k])));
      worst = Math.max(worst, diff);
      const ok = diff <= atol;
      failures += ok ? 0 : 1;
      const chars = [...text];
      const preview = (chars.length <= 60 ? text : `${chars.slice(0, 57).join("")}...`).replace(/[\n\t]/g, " ");
      console.log(`${ok ? "PASS" : "FAIL"}  ${i}  batch ${batchSize}  max|diff|=${pyExp(diff, 2)}  ${preview}`);
    });
  }
  const verdict = failures ? `${failures} FAILED` : "all passed";
  console.log(`${texts.length} golden examples at batch size ${sizes.join(" and ")}, ${verdict} (atol ${pyG(atol)}, max |diff| ${pyExp(worst, 2)})`);
  return failures ? 1 : 0;
}

/**
 * Run the CLI; resolves to the exit code.
 * @param {string[]} argv arguments after the program name
 * @param {{verbose?: boolean}} [options]
 */
export async function main(argv) {
  const verbose = argv.includes("--verbose");
  argv = argv.filter((a) => a !== "--verbose");
  let args;
  try {
    args = parse(argv);
  } catch (error) {
    if (!(error instanceof UsageError)) throw error;
    const command = error.cause in USAGE ? error.cause : null;
    if (error.cause === "help") {
      process.stdout.write(`usage: ${PROG} {predict,check} ...\n\n  predict  classify texts with a bundle\n  check    verify a bundle and replay its golden examples\n`);
      return 0;
    }
    process.stderr.write(`${command ? USAGE[command] : `usage: ${PROG} {predict,check} ...`}\n${PROG}${command ? ` ${command}` : ""}: error: ${error.message}\n`);
    return 2;
  }
  if (args.help) {
    process.stdout.write(`${USAGE[args.command]}\n\n${HELP[args.command]}\n`);
    return 0;
  }
  try {
    return args.command === "predict" ? await runPredict(args) : await runCheck(args);
  } catch (error) {
    if (error?.code === "EPIPE") return 0;
    if (!(error instanceof EdgeError) || verbose) {
      if (verbose) console.error(error);
      else throw error;
    }
    process.stderr.write(`error: ${error.message}\n`);
    return 1;
  }
}
