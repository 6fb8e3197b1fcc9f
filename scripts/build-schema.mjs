// Build step: compiles the Compose schema validator ahead of time (ajv standalone code), so a
// cold `berth` start does not spend ~100 ms compiling the schema. Writes
// dist/compose/schema-validator.cjs and dist/compose/xberth-validators.cjs; src/compose/schema.ts falls back to compiling at run time
// when it is missing.
import { writeFileSync } from 'node:fs';
import { Ajv2019 } from 'ajv/dist/2019.js';
import standaloneCode from 'ajv/dist/standalone/index.js';
import { standaloneSchema } from '../dist/compose/schema.js';
import { projectBerthSchema, serviceBerthSchema, XBERTH_AJV_OPTIONS } from '../dist/compose/xberth.js';

const ajv = new Ajv2019({ strict: false, allowUnionTypes: true, validateSchema: false, meta: false, code: { source: true, esm: false } });
const validate = ajv.compile(standaloneSchema());
writeFileSync(new URL('../dist/compose/schema-validator.cjs', import.meta.url), standaloneCode.default(ajv, validate));

// The x-berth validators (all errors, for the best message), as one module exporting both.
const xberth = new Ajv2019({ ...XBERTH_AJV_OPTIONS, code: { source: true, esm: false } });
xberth.addSchema({ ...serviceBerthSchema, $id: 'service' }).addSchema({ ...projectBerthSchema, $id: 'project' });
writeFileSync(new URL('../dist/compose/xberth-validators.cjs', import.meta.url), standaloneCode.default(xberth, { service: 'service', project: 'project' }));
