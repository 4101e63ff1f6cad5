/**
 * The template file format (`templates/<id>.yaml`): one schema is the source of the TypeScript
 * type, of the validation and of the published JSON Schema (`schemas/template.schema.json`).
 *
 *   id: cart-reminder
 *   default_currency: EUR
 *   in_app:
 *     title: "{{ user.traits.first_name | default: 'Hi' }}, your cart is waiting"
 *     body: "{{ event.properties.item_count }} items, {{ event.properties.value | money }}"
 *   email: { subject: …, html: …, text: … }
 *
 * Every part is a Liquid template over `user`, `event`, `message` and `now` (see render.ts).
 * A channel the template has no parts for cannot carry it: a send on that channel fails and its
 * fallbacks are tried.
 */
import { Type, type Static } from '@sinclair/typebox';
import type { Channel } from '../trigger-definition.js';

const Part = (description: string) => Type.String({ description: `${description} Liquid.` });

/** The parts of each channel, in the order they are rendered and reported. */
export const ChannelPartsSchemas = {
  email: Type.Object(
    {
      subject: Part('Subject line.'),
      html: Type.Optional(Part('HTML body; output is HTML-escaped unless `| raw`.')),
      text: Type.Optional(Part('Plain-text body.')),
    },
    { additionalProperties: false, description: 'An email: subject and an html or text body (or both).' },
  ),
  push: Type.Object(
    {
      title: Part('Notification title.'),
      body: Part('Notification text.'),
      url: Type.Optional(Part('Opened on click.')),
      icon: Type.Optional(Part('Icon URL.')),
    },
    { additionalProperties: false },
  ),
  in_app: Type.Object(
    {
      title: Part('Heading in the inbox.'),
      body: Part('Message text.'),
      cta_label: Type.Optional(Part('Button label.')),
      cta_url: Type.Optional(Part('Button link.')),
      image_url: Type.Optional(Part('Image shown with the message.')),
      style: Type.Optional(Part('How the page shows it: toast (default), banner or modal.')),
    },
    { additionalProperties: false },
  ),
  sms: Type.Object({ text: Part('Message text.') }, { additionalProperties: false }),
  webhook: Type.Record(Type.String({ pattern: '^[A-Za-z_][A-Za-z0-9_]{0,63}$' }), Part('A field of the JSON body.'), {
    description: 'Free named parts, sent as fields of the webhook body.',
  }),
} satisfies Record<Channel, unknown>;

export const TemplateSchema = Type.Object(
  {
    id: Type.String({ pattern: '^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$', description: 'What trigger steps name in `template:`.' }),
    description: Type.Optional(Type.String()),
    default_locale: Type.Optional(
      Type.String({ pattern: '^[A-Za-z]{2,3}(-[A-Za-z0-9]{2,8})*$', description: "For users whose profile has no locale (BCP 47, e.g. de-DE). Default en-US." }),
    ),
    default_currency: Type.Optional(Type.String({ pattern: '^[A-Z]{3}$', description: 'Currency of `money` when it is given none (ISO 4217).' })),
    code: Type.Optional(
      Type.String({
        pattern: '^[a-z][a-z0-9_]*$',
        description: 'A personal discount code of this kind (a key of `codes` in nudge.yaml) is reserved for each message when it is sent: `message.code`, valid until `message.code_expires_at`.',
      }),
    ),
    email: Type.Optional(ChannelPartsSchemas.email),
    push: Type.Optional(ChannelPartsSchemas.push),
    in_app: Type.Optional(ChannelPartsSchemas.in_app),
    sms: Type.Optional(ChannelPartsSchemas.sms),
    webhook: Type.Optional(ChannelPartsSchemas.webhook),
  },
  { additionalProperties: false },
);

export type TemplateDefinition = Static<typeof TemplateSchema>;
