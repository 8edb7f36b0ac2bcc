// `npm run demo`: install what is needed, build, then run the real CLI on the
// example domains. (The live-migration demo replaces this once it exists.)
import path from 'node:path';
import { readdirSync } from 'node:fs';
import { build, ensureNodeModules, root, run } from './setup.mjs';

ensureNodeModules();
build();
const cli = path.join(root, 'dist', 'src', 'cli', 'main.js');
const examples = readdirSync(path.join(root, 'examples')).filter((f) => f.endsWith('.xml')).sort().map((f) => path.join('examples', f));
const step = (title, args) => {
  console.log(`\n$ virt-failover ${args.join(' ')}    # ${title}`);
  return run(process.execPath, [cli, ...args]);
};
step('what libvirt would say at virsh define', ['validate', ...examples]);
step('canonical libvirt form', ['format', 'examples/failover-pair.xml']);
console.log('\ndemo done');
