// Validates manifest.yml with Atlassian's own validator, @forge/manifest
// (the library behind `forge lint`), offline: the full validation that
// `validate(false, path)` runs, then the product-event scope check that
// `forge deploy` adds. Any error fails; warnings are printed.
//
// The manifest takes the app id and the remote's URL from the
// environment, as the Forge CLI does; CI passes fixed sample values.
// Build the resources first (node build.mjs): the validator checks that
// every resource folder holds an index.html.
//
// Usage: FORGE_APP_ID=<uuid> BASE_URL=https://... node validate.mjs
import { validate, ProcessorBuilder, ValidationTypes } from '@forge/manifest';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const manifest = join(dirname(fileURLToPath(import.meta.url)), 'manifest.yml');
for (const name of ['FORGE_APP_ID', 'BASE_URL']) {
  if (!process.env[name]) {
    console.error(`validate: set ${name} (the manifest reads it, as forge deploy does)`);
    process.exit(2);
  }
}

const runs = [
  ['validate(false)', () => validate(false, manifest)],
  ['product event scopes', () => ProcessorBuilder.instance().withValidation(ValidationTypes.PRODUCT_TRIGGER).build().process(manifest)],
];
let failed = false;
for (const [name, run] of runs) {
  const result = await run();
  const errors = (result.errors ?? []).filter((e) => e.level === 'error');
  for (const e of result.errors ?? []) {
    console.log(`${name}: ${e.level} at line ${e.line ?? 0}: ${e.message}`);
  }
  if (!result.success || errors.length) {
    failed = true;
    console.error(`${name}: FAILED (${errors.length} error(s))`);
  } else {
    console.log(`${name}: ok`);
  }
}
process.exit(failed ? 1 : 0);
