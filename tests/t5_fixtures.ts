/** The T5 reference fixtures live in lib/t5/fixtures.ts (the GPU check reads them too). */
export * from "../lib/t5/fixtures.ts";
