/**
 * Test support for plans: dataset availability without a data folder.
 *
 * @module
 */
import { type Availability, type DatasetName, DATASETS } from "../lib/data/registry.ts";

/** Availability as on this project's shared data folder: the licensed datasets are missing. */
export function sharedAvailability(): Record<DatasetName, Availability> {
  const present = new Set<DatasetName>(["conll03", "conll04", "ade", "fewrel", "fewrel_standin"]);
  const out = {} as Record<DatasetName, Availability>;
  for (const d of Object.keys(DATASETS) as DatasetName[]) {
    out[d] = { available: present.has(d), missing: present.has(d) ? [] : DATASETS[d].files };
  }
  return out;
}

/** Every dataset present. */
export function allAvailable(): Record<DatasetName, Availability> {
  const out = {} as Record<DatasetName, Availability>;
  for (const d of Object.keys(DATASETS) as DatasetName[]) out[d] = { available: true, missing: [] };
  return out;
}
