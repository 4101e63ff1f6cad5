/**
 * The snippet on a page: the tracker (tracker.ts) over the browser (browser-env.ts), the current
 * page view's cues (cues/page-cues.ts) fed by page-watch.ts, the in-app stream and its rendering,
 * and push. One timer wakes it when the queue or a form's idle time is due.
 *
 * Page views: `page()` ends the current view (`page_left`, abandoned forms), sends the page call
 * with `page_type`, and starts the cues of the new one. When the page is hidden, pending events go
 * by beacon; when it goes away (pagehide), the view ends, its last events go by beacon too and the
 * in-app stream closes. A page restored from the back/forward cache is a new view.
 */
import { PageCues } from '../cues/page-cues.js';
import type { InboxMessage, MessageLabels } from '../inbox.js';
import type { ResolvedOptions } from '../options.js';
import { pageProperties, pageTypeOf } from '../page.js';
import { Tracker, type Properties } from '../tracker.js';
import { browserEnv, browserStorage } from './browser-env.js';
import { InboxStream } from './inbox-stream.js';
import { checkoutStepsOf, watchPage, type CueInput } from './page-watch.js';
import { browserPushEnv, subscribePush, unsubscribePush, type PushOptions, type PushResult } from './push.js';
import { renderMessage, type MessageAction } from './render.js';

export type MessageHandler = (item: InboxMessage) => void;

export class NudgeClient {
  private readonly tracker: Tracker;
  private readonly inbox: InboxStream | null;
  private readonly handlers: MessageHandler[] = [];
  private cues: PageCues | null = null;
  private timer: ReturnType<typeof setTimeout> | undefined;
  private token: string | null;

  constructor(
    private readonly win: Window,
    private readonly options: ResolvedOptions,
  ) {
    const storage = browserStorage(win);
    this.tracker = new Tracker(browserEnv(win, options.host, storage), { writeKey: options.writeKey, sessionTimeoutMs: options.sessionTimeoutMs, queue: options.queue });
    this.token = options.token;
    const { inApp } = options;
    this.inbox = inApp
      ? new InboxStream(win, {
          host: options.host,
          writeKey: options.writeKey,
          storage,
          received: (item) => {
            for (const handler of this.handlers) handler(item);
            if (inApp.render) this.show(item, inApp.labels);
          },
        })
      : null;
    watchPage(win, options.cues, options.history, {
      cue: (input) => this.cue(input),
      hidden: () => this.tracker.hide(),
      left: () => {
        this.endPage();
        this.tracker.hide();
        this.inbox?.close();
      },
      restored: () => {
        if (options.pageViews) this.page();
        void this.inbox?.open(this.tracker.anonymousId, this.token);
      },
      online: () => void this.tracker.online().then(() => this.schedule()),
      navigated: () => this.cues?.page.path !== win.location.pathname && this.page(),
    });
    // An async script may run before <body> exists: the page view waits for it, to read its type.
    if (options.pageViews && win.document.readyState === 'loading') win.document.addEventListener('DOMContentLoaded', () => this.page(), { once: true });
    else if (options.pageViews) this.page();
    void this.inbox?.open(this.tracker.anonymousId, this.token);
    void this.tracker.run().then(() => this.schedule());
  }

  track(event: string, properties?: Properties): void {
    this.tracker.track(event, properties);
    this.schedule();
  }

  /** A page view: ends the current one and starts the cues of this one. */
  page(name: string | null = null, properties: Properties = {}): void {
    this.endPage();
    const { document: doc, location } = this.win;
    const type = pageTypeOf(doc.body?.getAttribute('data-nudge-page-type'), doc.querySelector('meta[name="nudge:page-type"]')?.getAttribute('content'));
    this.tracker.page(name, { ...pageProperties(location, doc.title, doc.referrer, type), ...properties });
    this.cues = new PageCues({ type, path: location.pathname }, Date.now(), !doc.hidden, this.options.cues);
    this.cue((c) => c.checkoutSteps(checkoutStepsOf(doc)));
  }

  /** Names the user; `token`, their inbox token from the site's backend, switches the in-app stream to them. */
  identify(userId: string | null, traits?: Properties, options: { token?: string } = {}): void {
    this.tracker.identify(userId, traits);
    this.schedule();
    if (options.token !== undefined && options.token !== this.token) {
      this.token = options.token;
      void this.inbox?.open(this.tracker.anonymousId, this.token);
    }
  }

  /** Signing out: a new anonymous visitor, without the user's token. */
  reset(): void {
    this.tracker.reset();
    this.token = null;
    void this.inbox?.open(this.tracker.anonymousId, null);
  }

  /** Sends everything waiting now. */
  async flush(): Promise<void> {
    await this.tracker.run(true);
    this.schedule();
  }

  user(): { anonymousId: string; userId: string | null; sessionId: string | null } {
    return { anonymousId: this.tracker.anonymousId, userId: this.tracker.userId, sessionId: this.tracker.sessionId() };
  }

  /** `on('message', handler)`: each in-app message as it arrives (also when the snippet renders it). */
  on(type: 'message', handler: MessageHandler): void {
    if (type === 'message') this.handlers.push(handler);
  }

  /** What the user did with an in-app message, for a site that renders messages itself; `not_relevant` also dismisses. */
  report(id: number, action: 'shown' | 'read' | MessageAction): void {
    if (action === 'not_relevant') this.inbox?.report(id, 'feedback', 'not_relevant');
    this.inbox?.report(id, action === 'not_relevant' ? 'dismiss' : action);
  }

  subscribePush(options?: PushOptions): Promise<PushResult> {
    return subscribePush(browserPushEnv(this.win), this.pushTarget(), options);
  }

  unsubscribePush(): Promise<boolean> {
    return unsubscribePush(browserPushEnv(this.win), this.pushTarget());
  }

  private pushTarget() {
    return { host: this.options.host, writeKey: this.options.writeKey, userId: this.tracker.userId, anonymousId: this.tracker.anonymousId };
  }

  private show(item: InboxMessage, labels: MessageLabels): void {
    const doc = this.win.document;
    renderMessage(doc, item, labels, (action) => this.report(item.id, action));
    // Shown means seen: a message that arrives in a background tab counts when the tab shows.
    const shown = () => {
      if (doc.hidden) return;
      doc.removeEventListener('visibilitychange', shown);
      this.report(item.id, 'shown');
    };
    doc.addEventListener('visibilitychange', shown);
    shown();
  }

  private cue(input: CueInput): void {
    if (!this.cues) return;
    for (const { event, properties } of input(this.cues, Date.now())) this.tracker.track(event, properties);
    this.schedule();
  }

  private endPage(): void {
    this.cue((c, at) => c.leave(at));
    this.cues = null;
  }

  /** One timer, for the earliest of the queue's next batch and the next form to turn idle. */
  private schedule(): void {
    clearTimeout(this.timer);
    const wakeAt = Math.min(this.tracker.wakeAt() ?? Infinity, this.cues?.wakeAt() ?? Infinity);
    if (wakeAt === Infinity) return;
    this.timer = setTimeout(() => {
      this.cue((c, at) => c.tick(at));
      void this.tracker.run().then(() => this.schedule());
    }, Math.max(0, wakeAt - Date.now()));
  }
}
