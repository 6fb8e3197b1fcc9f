import assert from 'node:assert/strict';
import { test } from 'node:test';
import { previewService, renderDeployPreview, renderUpPreview, type ServicePreviewFacts } from './preview.js';

const facts = (over: Partial<ServicePreviewFacts> = {}): ServicePreviewFacts => ({
  service: 'app',
  target: { ref: 'app:2', imageId: 'sha256:bbbbbbbbbbbbbbbb', build: false },
  running: [{ name: 'shop_app_1', image: 'app:1', imageId: 'sha256:aaaaaaaaaaaaaaaa', configHash: 'h1' }],
  configHash: 'h1',
  ...over,
});

test('issue 17: a dry run shows current → target per service and what Compose would recreate in place', () => {
  const changed = previewService(facts());
  assert.deepEqual([changed.current, changed.target, changed.change, changed.why], ['app:1 (aaaaaaaaaaaa)', 'app:2 (bbbbbbbbbbbb)', 'changed', 'its image changed']);
  assert.match(renderUpPreview([changed]), /app: app:1 \(aaaaaaaaaaaa\) → app:2 \(bbbbbbbbbbbb\)\n.*RECREATED IN PLACE: the old container stops before the new one starts \(an outage; berth rollout app has none\)/);
  assert.match(renderDeployPreview([changed]), /new replicas beside the old ones \(no downtime\)/);

  const config = previewService(facts({ target: { ref: 'app:1', imageId: 'sha256:aaaaaaaaaaaaaaaa', build: false }, configHash: 'h2' }));
  assert.equal(config.change, 'changed');
  assert.match(renderUpPreview([config]), /its configuration changed: RECREATED IN PLACE/);
  assert.match(renderDeployPreview([config]), /only for a new image: pass --force/);

  const same = previewService(facts({ target: { ref: 'app:1', imageId: 'sha256:aaaaaaaaaaaaaaaa', build: false } }));
  assert.equal(same.change, 'unchanged');
  assert.match(renderUpPreview([same]), /Compose leaves it running/);

  assert.equal(previewService(facts({ running: [] })).change, 'create');
  assert.equal(previewService(facts({ target: { ref: 'shop_app', imageId: 'sha256:aaaaaaaaaaaaaaaa', build: true } })).change, 'unknown');
  assert.match(previewService(facts({ target: { ref: 'app:3', imageId: undefined, build: false } })).target, /app:3 \(to pull\)/);
  assert.match(renderUpPreview(new Error('cannot reach the Docker engine')), /current images unknown: cannot reach/);
});
