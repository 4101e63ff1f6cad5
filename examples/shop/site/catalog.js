// The shop's products and their pictures, drawn in SVG (no image files, nothing from the network).
// A product of €100 or more is "high value": reading most of its page brings an expert's offer
// (triggers/high-value-scroll.yaml).

export const currency = 'EUR';

export const products = [
  {
    id: 'runner-42', name: 'Trail runner', price: 89, art: 'runner', hue: '#d9643a',
    tagline: 'Grippy, light and quick to drain: made for muddy mornings.',
    details: ['Lugged rubber outsole, 5 mm lugs', 'Breathable mesh upper with a toe bumper', 'Drop 6 mm, 290 g (size 42)'],
  },
  {
    id: 'city-7', name: 'City sneaker', price: 69, art: 'sneaker', hue: '#3a6fd9',
    tagline: 'From the office to the park, in one pair.',
    details: ['Recycled canvas upper', 'Cushioned cork footbed', 'Natural rubber sole'],
  },
  {
    id: 'rain-3', name: 'Rain jacket', price: 129, art: 'jacket', hue: '#1f7a64',
    tagline: 'Fully taped seams and a hood that stays put in the wind.',
    details: ['Three-layer waterproof shell, 20,000 mm', 'Pit zips and an adjustable hood', 'Packs into its own pocket'],
  },
  {
    id: 'watch-9', name: 'Trail watch', price: 249, art: 'watch', hue: '#5b4bc4',
    tagline: 'GPS, heart rate and 30 hours of battery for the longest days out.',
    details: ['Multi-band GPS with breadcrumb navigation', 'Optical heart rate and recovery advice', 'Sapphire glass, 50 m water resistance'],
  },
  {
    id: 'pack-20', name: 'Day pack', price: 59, art: 'pack', hue: '#b5487a',
    tagline: '20 litres, a hip belt and room for a wet jacket.',
    details: ['Ventilated back panel', 'Hydration sleeve and two side pockets', 'Weighs 640 g'],
  },
  {
    id: 'wool-1', name: 'Merino socks', price: 15, art: 'socks', hue: '#c28a1e',
    tagline: 'Warm when wet, and they do not smell after three days.',
    details: ['70 % merino wool', 'Cushioned heel and toe', 'Seamless toe closure'],
  },
  {
    id: 'cap-2', name: 'Running cap', price: 19, art: 'cap', hue: '#2f8fb3',
    tagline: 'Sun off your face, sweat off your brow.',
    details: ['Quick-dry fabric with a laser-cut vent', 'Soft, foldable brim', 'One size, adjustable'],
  },
];

export const productById = (id) => products.find((p) => p.id === id) ?? null;

export function money(amount) {
  return new Intl.NumberFormat('en-IE', { style: 'currency', currency }).format(amount);
}

const shapes = {
  runner: (c) => `
    <path d="M28 104c2-18 14-26 30-28l30-5c12-14 24-20 40-19l8 2c6 16 18 24 34 30 10 4 14 10 14 20H28z" fill="${c}"/>
    <path d="M28 104h156v8c0 6-4 9-10 9H38c-6 0-10-3-10-9z" fill="#2b2b2b"/>
    <path d="M36 121h8m10 0h8m10 0h8m10 0h8m10 0h8m10 0h8m10 0h8" stroke="#2b2b2b" stroke-width="5"/>
    <path d="M96 66l10 8m-2-13l10 8m-2-13l10 8" stroke="#fff" stroke-width="3.5" stroke-linecap="round"/>
    <path d="M60 92c28-2 58-2 100 2" stroke="#fff" stroke-width="3" opacity=".5" fill="none"/>`,
  sneaker: (c) => `
    <path d="M30 102c0-16 10-24 24-26l34-6c10-12 22-18 36-16 4 14 16 22 30 26 10 3 16 9 16 22H30z" fill="${c}"/>
    <path d="M30 102h140v10c0 4-3 6-7 6H37c-4 0-7-2-7-6z" fill="#f4f1ea" stroke="#d8d2c4" stroke-width="2"/>
    <path d="M62 96c20-12 40-20 70-22" stroke="#fff" stroke-width="6" stroke-linecap="round" fill="none" opacity=".85"/>
    <path d="M100 64l10 7m-2-12l10 7" stroke="#fff" stroke-width="3.5" stroke-linecap="round"/>`,
  jacket: (c) => `
    <path d="M74 36c16-10 36-10 52 0l34 22-12 26-10-6v52H62V78l-10 6-12-26z" fill="${c}"/>
    <path d="M80 36c6-18 34-18 40 0-10 8-30 8-40 0z" fill="#000" opacity=".22"/>
    <path d="M100 44v86" stroke="#000" stroke-width="3" opacity=".35"/>
    <path d="M70 96h18m24 0h18" stroke="#000" stroke-width="3" stroke-linecap="round" opacity=".3"/>
    <path d="M40 58l12 26m108-26l-12 26" stroke="#fff" stroke-width="2" opacity=".35"/>`,
  watch: (c) => `
    <rect x="82" y="14" width="36" height="122" rx="14" fill="${c}"/>
    <circle cx="100" cy="75" r="36" fill="#2b2b2b"/>
    <circle cx="100" cy="75" r="29" fill="#10151c"/>
    <path d="M100 75V56m0 19l13 8" stroke="#7ee0c3" stroke-width="4" stroke-linecap="round"/>
    <circle cx="100" cy="75" r="3.5" fill="#fff"/>
    <path d="M136 66v18" stroke="#2b2b2b" stroke-width="6" stroke-linecap="round"/>`,
  pack: (c) => `
    <path d="M62 44c0-16 12-26 38-26s38 10 38 26v78c0 6-4 10-10 10H72c-6 0-10-4-10-10z" fill="${c}"/>
    <path d="M84 22c0-10 32-10 32 0" stroke="#2b2b2b" stroke-width="6" fill="none"/>
    <rect x="74" y="80" width="52" height="38" rx="8" fill="#000" opacity=".2"/>
    <path d="M74 92h52" stroke="#fff" stroke-width="2.5" opacity=".6"/>
    <path d="M62 56c20 8 56 8 76 0" stroke="#fff" stroke-width="3" fill="none" opacity=".45"/>`,
  socks: (c) => `
    <path d="M58 22h30v62c0 8 4 12 12 16l18 8c10 5 10 20-2 22-5 1-9 0-14-2l-40-16c-8-3-12-10-12-18V22z" fill="${c}"/>
    <path d="M58 22h30v14H58z" fill="#fff" opacity=".55"/>
    <path d="M106 30h28v54c0 8 4 12 12 16l10 5c10 5 8 19-3 20-5 1-9 0-13-2l-30-12c-8-3-12-10-12-18V30z" fill="${c}" opacity=".75"/>
    <path d="M106 30h28v12h-28z" fill="#fff" opacity=".5"/>`,
  cap: (c) => `
    <path d="M46 94c0-34 24-56 56-56s52 22 52 56z" fill="${c}"/>
    <path d="M40 94h96c18 0 32 6 36 14H48c-6 0-8-6-8-14z" fill="#000" opacity=".3"/>
    <circle cx="102" cy="38" r="5" fill="#000" opacity=".3"/>
    <path d="M102 40c-14 14-20 32-22 54m22-54c14 14 20 32 22 54" stroke="#fff" stroke-width="2.5" fill="none" opacity=".45"/>`,
};

/** The product's picture: its drawing on a soft circle of its colour. Decorative: the name is next to it. */
export function productArt(product) {
  return `<svg viewBox="0 0 200 150" aria-hidden="true" focusable="false">
    <circle cx="100" cy="78" r="70" fill="${product.hue}" opacity=".14"/>
    ${shapes[product.art](product.hue)}
  </svg>`;
}
