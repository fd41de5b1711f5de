"""Push alerts (`[[alerts]]`): e-mail and webhooks that tell an admin when a run is not well, so nobody has
to read `syncd status` by chance. Modules: `settings` (the config table), `conditions` (what is wrong, judged
from a run), `message` (the words and each channel's shape), `channels` (SMTP, HTTPS), `notifier`
(de-duplication and delivery), `run` (around one cycle). Kept import-light: config.py imports `settings`."""
