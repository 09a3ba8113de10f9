// npm's postinstall: some packages ship Go sources (flatted has golang/),
// and `go build ./...` of the flowlens module would walk into node_modules.
// A go.mod there makes it a module of its own, which ./... leaves out.
import { writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
writeFileSync(join(root, 'node_modules', 'go.mod'), 'module flowlens.invalid/node_modules\n');
