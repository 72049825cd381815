'use strict';
// Writes dist/index.mjs and dist/index.d.mts: ES module entry points over the CommonJS build, so `import` and
// `require` share one instance of the addon (and of the process-wide pool).
const fs = require('node:fs');
const path = require('node:path');

const dist = path.join(__dirname, '..', 'dist');
const cjs = require(path.join(dist, 'index.js'));
const names = Object.keys(cjs).filter((n) => n !== '__esModule' && n !== 'default');
fs.writeFileSync(
  path.join(dist, 'index.mjs'),
  `import cjs from './index.js';\nexport const { ${names.join(', ')} } = cjs;\nexport default cjs;\n`,
);
fs.writeFileSync(path.join(dist, 'index.d.mts'), "export * from './index.js';\n");
