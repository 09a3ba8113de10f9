// npm's postinstall of the frontends (dashboards/plugin, console/ui): some
// packages ship Go sources (flatted has golang/), and `go build ./...` of the
// flowlens module would walk into node_modules. A go.mod there makes it a
// module of its own, which ./... leaves out. npm runs it in the package's
// folder.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';

writeFileSync(join(process.cwd(), 'node_modules', 'go.mod'), 'module flowlens.invalid/node_modules\n');
