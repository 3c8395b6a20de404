// Stands in for node:os in the browser bundle: the Hugging Face cache lookup that calls it
// (lib/checkpoint/hf_env.ts) is reachable through imports but never runs in a page.
export function homedir(): string {
  throw new Error("node:os is not available in the browser");
}
