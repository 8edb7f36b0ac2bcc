// Machine-type families as libvirt's QEMU driver tells them apart by name
// (qemuDomainMachineIsQ35 / ...IsI440FX), and the questions post-parse asks.

/** q35 family: the alias or a versioned pc-q35-X.Y. */
export function isQ35(machine: string | undefined): boolean {
  return machine !== undefined && (machine === 'q35' || machine.startsWith('pc-q35-'));
}

/** i440fx family (the 'pc' alias, versioned pc-i440fx-X.Y, the old pc-0.x/pc-1.x, rhel*). */
export function isI440FX(machine: string | undefined): boolean {
  if (machine === undefined) return false;
  return (
    machine === 'pc' ||
    machine.startsWith('pc-0.') ||
    machine.startsWith('pc-1.') ||
    machine.startsWith('pc-i440fx-') ||
    machine.startsWith('rhel')
  );
}

/** x86 machines without a PCI bus. */
export function isPciLessX86(machine: string | undefined): boolean {
  return machine === 'isapc' || machine === 'microvm';
}

export function isX86(arch: string | undefined): boolean {
  return arch === 'x86_64' || arch === 'i686';
}
