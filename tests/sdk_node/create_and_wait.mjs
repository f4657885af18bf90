// Runway's official Node SDK, as its users call it, with the base URL moved to the relay:
// create one task of each kind named and wait for their outputs, side by side. Prints the
// finished tasks as a JSON object by kind.
// Usage: node create_and_wait.mjs BASE_URL API_KEY KIND...
// Beside the table's kinds: `upload` (a local picture uploaded with uploads.createEphemeral,
// then named in an imageUpscale create) and `video_to_hdr` (a route the relay's table does
// not know, passed through to CometAPI).
import RunwayML, { toFile } from '@runwayml/sdk';
import { readFileSync } from 'node:fs';

const [baseURL, apiKey, ...kinds] = process.argv.slice(2);
const client = new RunwayML({ baseURL, apiKey, maxRetries: 0, timeout: 15000 });
const creates = {
  image_to_video: () =>
    client.imageToVideo.create({
      model: 'gen4_turbo',
      promptImage: 'https://example.invalid/cat.jpg',
      promptText: 'a calm camera move',
      ratio: '1280:720',
      duration: 5,
    }),
  text_to_image: () =>
    client.textToImage.create({
      model: 'gen4_image_turbo',
      promptText: 'a thumbnail of a lighthouse',
      ratio: '1024:1024',
      referenceImages: [{ uri: 'https://example.invalid/face.png' }],
    }),
  text_to_video: () =>
    client.textToVideo.create({
      model: 'gen4.5',
      promptText: 'a lighthouse at dusk',
      ratio: '1280:720',
      duration: 5,
    }),
  sound_effect: () => client.soundEffect.create({ model: 'seed_audio', promptText: 'rain' }),
  video_to_hdr: () =>
    client.videoToHdr.create({ model: 'ruby', videoUri: 'https://example.invalid/clip.mp4' }),
};
// Uploads the picture at $UPLOAD_FILE, then names its runway:// URI in a create.
const uploadThenUpscale = async () => {
  const picture = await toFile(readFileSync(process.env.UPLOAD_FILE), 'face.png');
  const { uri } = await client.uploads.createEphemeral({ file: picture });
  return client.imageUpscale.create({ model: 'magnific_precision_upscaler_v2', imageUri: uri });
};
const run = async (kind) => {
  const created = kind === 'upload' ? await uploadThenUpscale() : await creates[kind]();
  return client.tasks.retrieve(created.id).waitForTaskOutput({ timeout: 120000 });
};
const done = await Promise.all(kinds.map(run));
console.log(JSON.stringify(Object.fromEntries(kinds.map((kind, i) => [kind, done[i]]))));
