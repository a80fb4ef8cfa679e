// Plain-JavaScript preload entry, for apps that do not run under tsx:
//   node --import /path/to/covgate/exporters/node/register.mjs app.js
// tsx's scoped tsImport loads the TypeScript exporter without registering
// tsx's hooks for the application's own modules.
import { tsImport } from 'tsx/esm/api';

await tsImport('./register.ts', import.meta.url);
