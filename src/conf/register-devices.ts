// Registers every typed device codec; imported once by domain.ts.
// Each device module calls registerDeviceCodec() at load.
import './interface.js';
import './hostdev.js';
import './emulator.js';
import './disk.js';
import './controller.js';
import './chardev.js';
import './input.js';
import './graphics.js';
import './sound.js';
import './audio.js';
import './video.js';
import './watchdog.js';
import './memballoon.js';
import './rng.js';
import './panic.js';
