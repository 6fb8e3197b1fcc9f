// Imported by client.ts before dockerode, so the stubs are in place when dockerode loads.
import { deferHeavyDockerodeModules } from './lazy-deps.js';

deferHeavyDockerodeModules();
