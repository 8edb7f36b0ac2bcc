// Conformance bookkeeping: every suite prints one summary line naming each failure.
import { after } from 'node:test';

export class ConformanceSummary {
  private readonly passed: string[] = [];
  private readonly failed: string[] = [];
  constructor(readonly suite: string, readonly unit = '') {
    after(() => this.print());
  }
  pass(name: string): void {
    this.passed.push(name);
  }
  fail(name: string): void {
    this.failed.push(name);
  }
  print(): void {
    const total = this.passed.length + this.failed.length;
    if (total === 0) return;
    const unit = this.unit ? ` ${this.unit}` : '';
    let line = `conformance ${this.suite}: ${this.passed.length}/${total}${unit}`;
    if (this.failed.length) line += ` — failing: ${this.failed.join(', ')}`;
    console.log(line);
  }
}
