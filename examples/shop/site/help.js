// The help page: a stand-in for a live chat (nothing is sent anywhere).
import { setupPage } from './shop.js';

const log = document.getElementById('chat-log');
document.getElementById('chat-form').addEventListener('submit', (e) => {
  e.preventDefault();
  const input = e.target.elements.message;
  const text = input.value.trim();
  if (!text) return;
  const say = (who, words) => {
    const li = document.createElement('li');
    li.className = who;
    li.textContent = words;
    log.append(li);
  };
  say('me', text);
  input.value = '';
  setTimeout(() => say('them', 'Thanks! This is a demo shop, so nobody is really here, but the message that brought you was real.'), 600);
});
setupPage();
