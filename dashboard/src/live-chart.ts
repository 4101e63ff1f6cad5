/** The live chart: two lines (events/s, sends/s) over time, sized to its container, drawn by uPlot. */
import uPlot from 'uplot';
import 'uplot/dist/uPlot.min.css';
import type { LiveStats } from './types';

const height = 280;
const clock = new Intl.DateTimeFormat(undefined, { timeStyle: 'medium' });

export class LiveChart {
  private readonly plot: uPlot;
  private readonly resize: ResizeObserver;

  constructor(host: HTMLElement) {
    this.plot = new uPlot(
      {
        width: Math.max(host.clientWidth, 320),
        height,
        series: [
          {},
          { label: 'Events/s', stroke: '#0b57d0', width: 2, points: { show: false } },
          { label: 'Sends/s', stroke: '#b3261e', width: 2, points: { show: false } },
        ],
        axes: [{ values: (_u, splits) => splits.map((t) => clock.format(t * 1000)) }, { label: 'per second' }],
        scales: { y: { range: (_u, _min, max) => [0, Math.max(1, max * 1.1)] } },
        legend: { live: false },
      },
      [[], [], []],
      host,
    );
    this.resize = new ResizeObserver(() => this.plot.setSize({ width: Math.max(host.clientWidth, 320), height }));
    this.resize.observe(host);
  }

  update(stats: LiveStats): void {
    const p = stats.points;
    this.plot.setData([p.map((x) => Date.parse(x.at) / 1000), p.map((x) => x.eventsPerSecond), p.map((x) => x.sendsPerSecond)]);
  }

  destroy(): void {
    this.resize.disconnect();
    this.plot.destroy();
  }
}
