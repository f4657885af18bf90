// Runway's official Node SDK, as its users call it, with the base URL moved to the relay:
// create one task of each kind named and wait for their outputs, side by side. Prints the
// finished tasks as a JSON object by kind.
// Usage: node create_and_wait.mjs BASE_URL API_KEY KIND...
import RunwayML from '@runwayml/sdk';

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
};
const done = await Promise.all(
  kinds.map((kind) => creates[kind]().waitForTaskOutput({ timeout: 120000 })),
);
console.log(JSON.stringify(Object.fromEntries(kinds.map((kind, i) => [kind, done[i]]))));
