// Stands in for node:crypto in the browser bundle: the download checksums that call it
// (lib/checkpoint/transfer.ts) are reachable through imports but never run in a page.
export function createHash(_algorithm: string): never {
  throw new Error("node:crypto is not available in the browser");
}
