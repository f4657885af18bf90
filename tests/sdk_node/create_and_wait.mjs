// Runway's official Node SDK, as its users call it, with the base URL moved to the relay:
// create an image_to_video task and wait for its output. Prints the finished task as JSON.
// Usage: node create_and_wait.mjs BASE_URL API_KEY
import RunwayML from '@runwayml/sdk';

const [baseURL, apiKey] = process.argv.slice(2);
const client = new RunwayML({ baseURL, apiKey, maxRetries: 0, timeout: 15000 });
const task = await client.imageToVideo
  .create({
    model: 'gen4_turbo',
    promptImage: 'https://example.invalid/cat.jpg',
    promptText: 'a calm camera move',
    ratio: '1280:720',
    duration: 5,
  })
  .waitForTaskOutput({ timeout: 120000 });
console.log(JSON.stringify(task));
