/**
 * What-if scenarios saved as YAML, one step per line in the command line's own words:
 *
 *   name: mail servers at r3
 *   steps:
 *     - link-down: 0.0.0.1,0.0.0.4
 *     - cost: 0.0.0.2,0.0.0.3=50
 *     - router-down: 0.0.0.5
 *     - move: 10.1.0.25+10.1.0.26=0.0.0.3
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { parseDocument, stringify } from 'yaml';
import { yamlValue } from '../common/yaml-value.js';
import { describeStep, parseStep, WhatIfError, type Scenario, type WhatIfStep } from './whatif.js';

const KINDS: readonly WhatIfStep['kind'][] = ['link-down', 'router-down', 'cost', 'move'];

/** Reads a scenario file; every problem is one WhatIfError naming the file and the step. */
export function readScenarioFile(file: string): Scenario {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (error) {
    throw new WhatIfError(`Cannot read the scenario ${file}: ${(error as Error).message}`);
  }
  const document = parseDocument(text);
  if (document.errors.length > 0) throw new WhatIfError(`${file}: ${document.errors[0].message.split('\n')[0]}`);
  const read = yamlValue(document);
  if ('error' in read) throw new WhatIfError(`${file}: ${read.error}`);
  const data = read.value;
  if (typeof data !== 'object' || data === null || !Array.isArray((data as { steps?: unknown }).steps)) {
    throw new WhatIfError(`${file}: a scenario is a map with a list "steps" (and optionally "name")`);
  }
  const { name, steps } = data as { name?: unknown; steps: unknown[] };
  if (name !== undefined && typeof name !== 'string') throw new WhatIfError(`${file}: name: a text`);
  const parsed = steps.map((entry, i) => {
    const pairs = typeof entry === 'object' && entry !== null ? Object.entries(entry) : [];
    const [kind, value] = pairs[0] ?? [];
    if (pairs.length !== 1 || !KINDS.includes(kind as WhatIfStep['kind']) || typeof value !== 'string') {
      throw new WhatIfError(`${file}: steps.${i}: one of ${KINDS.map((k) => `"${k}: …"`).join(', ')} (got ${JSON.stringify(entry)})`);
    }
    try {
      return parseStep(kind as WhatIfStep['kind'], value);
    } catch (error) {
      throw new WhatIfError(`${file}: steps.${i}: ${(error as Error).message}`);
    }
  });
  return { name: name ?? path.basename(file).replace(/\.ya?ml$/i, ''), steps: parsed };
}

/** The YAML text of a scenario, as readScenarioFile reads it back. */
export function scenarioYaml(scenario: Scenario): string {
  return stringify({
    name: scenario.name,
    steps: scenario.steps.map((step) => {
      const text = describeStep(step);
      const space = text.indexOf(' ');
      return { [text.slice(0, space)]: text.slice(space + 1) };
    }),
  });
}
