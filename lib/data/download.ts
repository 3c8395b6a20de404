/**
 * Fetching the freely available datasets into the data directory, each file checked against a
 * pinned size and SHA-256 (the library side of `deno task download`).
 *
 * Sources (all public):
 * - CoNLL04 and ADE: SpERT's files, `http://lavis.cs.hs-rm.de/storage/spert/public/datasets/`
 *   (what SpERT's `scripts/fetch_datasets.sh` mirrors, and what TANL tells its users to run);
 * - FewRel: THUNLP's GitHub repository, `https://raw.githubusercontent.com/thunlp/FewRel/master/data/`
 *   (FewRel 1.0 `val_wiki`, `pid2name`; FewRel 2.0 `val_nyt`, `val_semeval`, `val_pubmed`; and
 *   on request the 64-relation `train_wiki`);
 * - the T5 SentencePiece vocabulary: the Hugging Face hub's `t5-small` repository (`$HF_ENDPOINT`
 *   is honoured, as by `deno task download-model`).
 *
 * The pinned hashes are those of the copies the project is developed and tested on; a changed
 * upstream file is reported, not silently accepted. `train_wiki.json` has no pinned copy here, so it
 * is checked by content instead (64 relations x 700 instances).
 *
 * Everything else must be brought by the user: see {@link BRING_YOUR_OWN} and data/README.md.
 *
 * @module
 */

/** Where a file comes from. */
export type Source = "spert" | "fewrel" | "hf";

/** The public base URLs; each can be overridden (a mirror, or a local server in tests). */
export function defaultSources(): Record<Source, string> {
  let hf = "https://huggingface.co";
  try {
    hf = Deno.env.get("HF_ENDPOINT")?.replace(/\/$/, "") || hf;
  } catch {
    // no env permission: keep the public hub
  }
  return {
    spert: "http://lavis.cs.hs-rm.de/storage/spert/public/datasets",
    fewrel: "https://raw.githubusercontent.com/thunlp/FewRel/master/data",
    hf: `${hf}/t5-small/resolve/main`,
  };
}

/** One file to fetch: where it goes, where it comes from, and how it is checked. */
export interface RemoteFile {
  /** Path inside the data directory (`conll04/conll04_train.json`). */
  path: string;
  source: Source;
  /** Path under the source's base URL. */
  remote: string;
  size?: number;
  sha256?: string;
  /** A content check for files without a pinned hash; returns an error message or null. */
  check?: (bytes: Uint8Array) => string | null;
}

const f = (path: string, source: Source, remote: string, size: number, sha256: string): RemoteFile => ({
  path,
  source,
  remote,
  size,
  sha256,
});

function checkTrainWiki(bytes: Uint8Array): string | null {
  try {
    const data = JSON.parse(new TextDecoder().decode(bytes));
    const sizes = Object.values(data).map((v) => (Array.isArray(v) ? v.length : -1));
    if (sizes.length !== 64 || sizes.some((n) => n !== 700)) {
      return `expected 64 relations x 700 instances, found ${sizes.length} relations`;
    }
    return null;
  } catch (e) {
    return `not valid JSON (${(e as Error).message.slice(0, 80)}); a Git LFS pointer or an error page?`;
  }
}

/** The downloadable datasets by name, with their pinned files. */
export const DOWNLOADS: Record<string, RemoteFile[]> = {
  conll04: [
    f(
      "conll04/conll04_train.json",
      "spert",
      "conll04/conll04_train.json",
      474194,
      "65c52d5b6134c72c44277c74c5ecb354bf33aa352fc7b856edf6bda0bb436eea",
    ),
    f(
      "conll04/conll04_dev.json",
      "spert",
      "conll04/conll04_dev.json",
      124823,
      "3965a5110a79671fb74a78c0fd0113c4da6583c3833bd418c1ca414bb491e010",
    ),
    f(
      "conll04/conll04_test.json",
      "spert",
      "conll04/conll04_test.json",
      151092,
      "347f45cf181b5641d2373248a1af0592954415234f72536835dde1df1b504556",
    ),
    f(
      "conll04/conll04_types.json",
      "spert",
      "conll04/conll04_types.json",
      609,
      "9244d21d2640430f03eda97f59ce3e0a28a766964b1c04683c80656b5e505ad8",
    ),
  ],
  ade: [
    f(
      "ade/ade_types.json",
      "spert",
      "ade/ade_types.json",
      227,
      "3d3bced9f971a85ae5e55fce27098923cb41e887f5e6d612e8e1844fc284d1b5",
    ),
    f(
      "ade/ade_full.json",
      "spert",
      "ade/ade_full.json",
      1953871,
      "5bc2355bcb3fa326d0749af0368e7b428b44a63fb8a1fb76ffeef14825e51384",
    ),
    ...([
      [
        191384,
        "6d6a3584d3876a35854ef703f7a7059363599ad7ed3ab9c3e6e449ae8a252e9a",
        1762487,
        "6624ac4d015c75f551aa15a43bd05e268082d98297d18269662737f7df358365",
      ],
      [
        199949,
        "532fa740c11466c54d06dfe4e2989bd800c046cb31c409f074b7b3d49cf99b23",
        1753922,
        "811befd6d23d2aeb7cff3469d4b22d0c58fa61557b03257986ea1559042d42fe",
      ],
      [
        195396,
        "69c4844907809f4e76516d7e9b7f8f2fa5eab2bdf27ee0dc02bdb367e673f994",
        1758475,
        "c13ff04545537879e1d2fa41ed25c4e5831bbd75d2c07a4d7c0e60d2691b5b25",
      ],
      [
        193817,
        "07e188e39118bd9644d4bb74ad841099853a5dfbecb035e5af2dc83a7d927495",
        1760054,
        "1d65b2aab0da37d3125cb0a90f6c66ad05af4ebb6f4685c4ede242cfb587cb1e",
      ],
      [
        189018,
        "937eff5f8982fff83655872fcf150876145e75a381dcedfc45e2411f47146edc",
        1764853,
        "de8cdb999563697d330d97b9ac95a5ae1c83106eb812f25b12d807c6628f28a4",
      ],
      [
        202173,
        "d01d706574d4921304d3b53a0b013fbe41d2f97439245cf768c503df1e70a9f3",
        1751698,
        "474668717b0fbcb4cf6fda984b8897b2e66f2550c9a052187c6ece012960a6cf",
      ],
      [
        193127,
        "3e35e7278060f16103665a47db1480e305346f255872ced202617c6d8025bb01",
        1760744,
        "c3e41dea7c11c34da7f32be45ced3a162fff30abeb0939698937fe7a83446dca",
      ],
      [
        196119,
        "6c4f25fffd1ce4fb1bf67bc54713b44f6e1abb9ca744d06a38ed88731a8d1371",
        1757752,
        "3839c5f7cfd5c9e260a3a60a9c79f6ed54d21d66288413c8a2c2d8e985e9081c",
      ],
      [
        198533,
        "69fb620cc4f9fe4d35533dba74b7234ebb2c2e69a988a8945219563ad12feb3c",
        1755338,
        "9c5c698bb7d5a72e11685a63de4a6b525e073eede445eaae0d44ce42166fffcc",
      ],
      [
        194355,
        "a02776d17963ada8aad5e1d4370e96d2478a8e44fd0944274ac0c44f4499b0ed",
        1759516,
        "e863f0b8a717364fd553e55e041ea89e2a52d116e5b047cbaa1882410ab0813f",
      ],
    ] as [number, string, number, string][]).flatMap(([testSize, testSha, trainSize, trainSha], fold) => [
      f(`ade/ade_split_${fold}_train.json`, "spert", `ade/ade_split_${fold}_train.json`, trainSize, trainSha),
      f(`ade/ade_split_${fold}_test.json`, "spert", `ade/ade_split_${fold}_test.json`, testSize, testSha),
    ]),
  ],
  fewrel: [
    f(
      "fewrel/val_wiki.json",
      "fewrel",
      "val_wiki.json",
      3534147,
      "76bb44c2485b6faed358a3ce040eadafcc8a8835245cd7e6afc1bef672d4a0bf",
    ),
    f(
      "fewrel/pid2name.json",
      "fewrel",
      "pid2name.json",
      80278,
      "eeedd25512a8e4c2bc06b78009836d27de81807bcba6ed929debd5cd713c07ea",
    ),
    f(
      "fewrel/val_nyt.json",
      "fewrel",
      "val_nyt.json",
      1032006,
      "b519adc61a2bab0f05178e33a3cd8f284338b635629493e9e09616ba81bb428e",
    ),
    f(
      "fewrel/val_semeval.json",
      "fewrel",
      "val_semeval.json",
      2203006,
      "fd79cf35481f6596c23b92cd3ded3265481f3027a4b78d99921104f8fe632eb5",
    ),
    f(
      "fewrel/val_pubmed.json",
      "fewrel",
      "val_pubmed.json",
      432600,
      "fc0f13b534f6664fe0d8aec231d7590313bc6510d00dbc1b6746147f6a2b46e6",
    ),
  ],
  // Not fetched unless asked for: the paper's meta-training relations, ~1e7 bytes, no pinned copy.
  fewrel_train: [{
    path: "fewrel/train_wiki.json",
    source: "fewrel",
    remote: "train_wiki.json",
    check: checkTrainWiki,
  }],
  t5: [
    f(
      "t5/spiece.model",
      "hf",
      "spiece.model",
      791656,
      "d60acb128cf7b7f2536e8f38a5b18a05535c9e14c7a355904270e15b0945ea86",
    ),
  ],
};

/** What `deno task download` fetches with no names given. */
export const DEFAULT_DOWNLOADS = ["conll04", "ade", "fewrel", "t5"];

/**
 * Files the user brings, pinned where the project knows a good copy (CoNLL-2003 as commonly
 * distributed), so `--verify` can check them; never downloaded.
 */
export const VERIFY_ONLY: Record<string, RemoteFile[]> = {
  conll03: [
    f(
      "conll03/train.txt",
      "spert",
      "",
      3281526,
      "bed631399cb0e859c4b446438ce57dfe0208792ca6106ef11620877355494c3a",
    ),
    f(
      "conll03/dev.txt",
      "spert",
      "",
      827010,
      "aa83a45b88e4952998156583e2ff5a8be7c1f04fb9efa3a29cd87fac2c883807",
    ),
    f(
      "conll03/test.txt",
      "spert",
      "",
      748093,
      "443914daf51328868558859b28252a28caee2fd02b65e77987977d6489246c5f",
    ),
  ],
};

/** The datasets the user must bring, with their layout in the data directory. */
export const BRING_YOUR_OWN: Record<string, string> = {
  conll03: "conll03/{train,dev,test}.txt - CoNLL-2003 English (dev = eng.testa, test = eng.testb), " +
    "4 columns `word POS chunk NER`; Reuters text, not redistributable",
  ontonotes: "ontonotes/{train,dev,test}.txt - OntoNotes 5.0 NER (LDC2013T19), one `token TAG` line " +
    "per token (BIO tags in the last column), blank line between sentences",
  ace2005_joint_er: "ace2005_joint_er/{train,dev,test}.json - ACE 2005 (LDC2006T06) through DyGIE's " +
    "preprocessing: JSON lines with sentences, ner and relations",
  conll05_srl: "CoNLL2005-SRL/conll05.{train,dev,test}.txt - CoNLL-2005 WSJ SRL (Penn Treebank words, " +
    "LDC), one line per predicate: `INDEX TOKENS ||| TAGS` (an optional trailing `|||`)",
  conll05_srl_brown: "CoNLL2005-SRL-Brown/conll05.test.txt - the CoNLL-2005 Brown test set, same format",
  multi_woz: "multi_woz_2.1/multi_woz_2.1_{train,dev,test}_5_domain.json - MultiWOZ 2.1 (public, but " +
    "it must go through TRADE-DST's create_data.py and TANL's preprocess_multiwoz/prepare_multi_woz.py)",
};

/** The outcome for one file. */
export interface FileResult {
  path: string;
  status: "downloaded" | "present" | "failed";
  url?: string;
  bytes?: number;
  error?: string;
}

/** Options of {@link downloadFiles}. */
export interface DownloadOptions {
  /** The data directory to write into. */
  dataDir: string;
  /** Base URLs per source (defaults: {@link defaultSources}). */
  sources?: Partial<Record<Source, string>>;
  /** Download again even when a verified copy is present. */
  force?: boolean;
  /** Check size and SHA-256 (default true); false keeps whatever the server sends. */
  verify?: boolean;
  /** Progress and results, one line at a time (default: stderr). */
  log?: (line: string) => void;
  /** The fetch to use (default: the global fetch). */
  fetch?: typeof fetch;
  /** Give up on a file when no bytes arrive for this long (default 60 000 ms). */
  idleTimeoutMs?: number;
}

/** Hex SHA-256 of some bytes. */
export async function sha256Hex(bytes: Uint8Array): Promise<string> {
  const digest = await crypto.subtle.digest("SHA-256", bytes as Uint8Array<ArrayBuffer>);
  return [...new Uint8Array(digest)].map((b) => b.toString(16).padStart(2, "0")).join("");
}

/** Checks bytes against a file's pins; returns an error message or null. */
export async function checkBytes(file: RemoteFile, bytes: Uint8Array): Promise<string | null> {
  if (file.size !== undefined && bytes.length !== file.size) {
    return `size ${bytes.length} bytes, expected ${file.size}`;
  }
  if (file.sha256 !== undefined) {
    const got = await sha256Hex(bytes);
    if (got !== file.sha256) return `SHA-256 ${got}, expected ${file.sha256}`;
  }
  return file.check ? file.check(bytes) : null;
}

function readIfExists(path: string): Uint8Array | null {
  try {
    return Deno.readFileSync(path);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return null;
    throw e;
  }
}

function stderrLine(line: string): void {
  Deno.stderr.writeSync(new TextEncoder().encode(`${line}\n`));
}

const mb = (n: number) => `${(n / 1e6).toFixed(1)} MB`;

/**
 * Fetches files into the data directory. A present file that passes its check is kept; each
 * download goes to `FILE.part` and is moved into place only after it passes. A failed file is
 * reported and the others still run.
 */
export async function downloadFiles(files: RemoteFile[], opts: DownloadOptions): Promise<FileResult[]> {
  const sources = { ...defaultSources(), ...opts.sources };
  const log = opts.log ?? stderrLine;
  const verify = opts.verify ?? true;
  const doFetch = opts.fetch ?? fetch;
  const results: FileResult[] = [];
  for (const file of files) {
    const dest = `${opts.dataDir}/${file.path}`;
    const url = `${sources[file.source].replace(/\/$/, "")}/${file.remote}`;
    if (!opts.force) {
      const existing = readIfExists(dest);
      if (existing !== null) {
        const problem = verify ? await checkBytes(file, existing) : null;
        if (problem === null) {
          log(`  present     ${file.path}`);
          results.push({ path: file.path, status: "present", bytes: existing.length });
          continue;
        }
        log(`  replacing   ${file.path} (${problem})`);
      }
    }
    const part = `${dest}.part`;
    // A stalled connection must not hang the task: abort when no bytes arrive for a while.
    const idleMs = opts.idleTimeoutMs ?? 60_000;
    const abort = new AbortController();
    let timer: ReturnType<typeof setTimeout> | undefined;
    const bump = () => {
      clearTimeout(timer);
      timer = setTimeout(() => abort.abort(), idleMs);
    };
    try {
      log(`  fetching    ${url}`);
      bump();
      const response = await doFetch(url, { signal: abort.signal });
      if (!response.ok || response.body === null) {
        await response.body?.cancel();
        throw new Error(`HTTP ${response.status} ${response.statusText} from ${url}`);
      }
      const total = Number(response.headers.get("content-length")) || file.size || 0;
      const chunks: Uint8Array[] = [];
      let received = 0, lastReport = 0;
      for await (const chunk of response.body) {
        bump();
        chunks.push(chunk);
        received += chunk.length;
        if (received - lastReport >= 4e6) {
          lastReport = received;
          log(`              ${mb(received)}${total ? ` of ${mb(total)}` : ""}`);
        }
      }
      clearTimeout(timer);
      const bytes = new Uint8Array(received);
      let at = 0;
      for (const c of chunks) {
        bytes.set(c, at);
        at += c.length;
      }
      const problem = verify ? await checkBytes(file, bytes) : null;
      if (problem !== null) {
        throw new Error(`${url}: ${problem}; not saved (use --no-verify to keep it anyway)`);
      }
      Deno.mkdirSync(dest.slice(0, dest.lastIndexOf("/")), { recursive: true });
      Deno.writeFileSync(part, bytes);
      Deno.renameSync(part, dest);
      log(
        `  downloaded  ${file.path} (${received} bytes${verify && file.sha256 ? ", SHA-256 verified" : ""})`,
      );
      results.push({ path: file.path, status: "downloaded", url, bytes: received });
    } catch (e) {
      clearTimeout(timer);
      try {
        Deno.removeSync(part);
      } catch {
        // nothing was written
      }
      const error = abort.signal.aborted
        ? `no data from ${url} for ${idleMs / 1000} s`
        : (e as Error).message;
      log(`  FAILED      ${file.path}: ${error}`);
      results.push({ path: file.path, status: "failed", url, error });
    }
  }
  return results;
}

/** The files of the named downloadable datasets; throws on a name that cannot be downloaded. */
export function filesFor(names: string[]): RemoteFile[] {
  return names.flatMap((name) => {
    // Own keys only: `toString` or `constructor` must not find Object.prototype's members.
    if (Object.hasOwn(DOWNLOADS, name)) return DOWNLOADS[name];
    if (Object.hasOwn(BRING_YOUR_OWN, name)) {
      throw new Error(
        `${name} cannot be downloaded (licensed); bring your own copy: ${BRING_YOUR_OWN[name]}`,
      );
    }
    throw new Error(
      `unknown dataset ${JSON.stringify(name)}; downloadable: ${Object.keys(DOWNLOADS).join(", ")}`,
    );
  });
}

/**
 * Checks the files present in the data directory against the pins, without any network: the
 * downloadable datasets and the pinned bring-your-own ones. Missing files are reported as such.
 */
export async function verifyDataDir(
  dataDir: string,
  names: string[] = [...Object.keys(DOWNLOADS), ...Object.keys(VERIFY_ONLY)],
): Promise<{ path: string; status: "ok" | "missing" | "mismatch"; detail?: string }[]> {
  const out = [];
  for (const name of names) {
    for (const file of DOWNLOADS[name] ?? VERIFY_ONLY[name] ?? []) {
      const bytes = readIfExists(`${dataDir}/${file.path}`);
      if (bytes === null) {
        out.push({ path: file.path, status: "missing" as const });
        continue;
      }
      const problem = await checkBytes(file, bytes);
      out.push(
        problem === null ? { path: file.path, status: "ok" as const } : {
          path: file.path,
          status: "mismatch" as const,
          detail: problem,
        },
      );
    }
  }
  return out;
}
