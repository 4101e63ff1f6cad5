/**
 * The log channel: each message is written as one line to a stream (the server's standard output)
 * and counts as delivered. For trying triggers out and for development, before a real provider is set up.
 */
import type { ChannelProvider, Delivery, DeliveryOutcome } from '../ports/channel.js';

export class LogChannel implements ChannelProvider {
  readonly kind = 'log';
  constructor(private readonly write: (line: string) => void) {}

  async send({ message: m, channel, workspaceId }: Delivery): Promise<DeliveryOutcome> {
    const variants = Object.entries(m.variants).map(([e, v]) => ` ${e}=${v}`).join('');
    this.write(`[${channel}] ${workspaceId}/${m.profileId}: ${m.template} (trigger ${m.triggerId}, step ${m.stepId}${variants})`);
    return { status: 'delivered' };
  }
}
