import { assertEquals } from "@std/assert";
import { removeStaleTemps, tempCheckpointName, trimLog } from "./run_dir.ts";

Deno.test("run dir: a dead process's temporary checkpoint is removed, a live one's and checkpoints stay", async () => {
  const dir = await Deno.makeTempDir();
  try {
    // 2^31 - 1 is above any Linux pid_max: that process cannot exist.
    const dead = tempCheckpointName(9, 2147483647), mine = tempCheckpointName(3, Deno.pid);
    for (const name of [dead, mine, "checkpoint-6"]) {
      await Deno.mkdir(`${dir}/${name}`);
      await Deno.writeTextFile(`${dir}/${name}/model.safetensors`, "x");
    }
    assertEquals(await removeStaleTemps(dir), [dead]);
    const left = (await Array.fromAsync(Deno.readDir(dir))).map((e) => e.name).sort();
    assertEquals(left, [mine, "checkpoint-6"].sort());
    assertEquals(await removeStaleTemps(`${dir}/absent`), []);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("run dir: trimLog keeps the records up to the checkpoint's step and drops a cut-off line", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const path = `${dir}/log.jsonl`;
    const lines = [
      { kind: "mask", step: 0 },
      { kind: "step", step: 1 },
      { kind: "step", step: 2 },
      { kind: "mask", step: 2 },
      { kind: "step", step: 3 },
      { kind: "end", steps: 3 },
      { kind: "note" },
    ].map((r) => JSON.stringify(r));
    await Deno.writeTextFile(path, lines.join("\n") + '\n{"kind": "st');
    assertEquals(await trimLog(path, 2), 3);
    assertEquals(await Deno.readTextFile(path), [0, 1, 2, 3, 6].map((i) => lines[i] + "\n").join(""));
    assertEquals(await trimLog(path, 2), 0, "nothing more to drop");
    assertEquals(await trimLog(`${dir}/absent.jsonl`, 1), 0);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
