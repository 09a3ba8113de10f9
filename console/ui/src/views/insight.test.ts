import { callerText } from './catalog';
import { fieldLabel } from './conformance';
import { flowText } from './suggest';

describe('what the insight views write', () => {
  it('a suggested ratio names its flows as a person reads them', () => {
    expect(flowText({ edge: 'front->one' })).toBe('front → one');
    expect(flowText({ edge: '*->front' })).toBe('calls into front');
    expect(flowText({ edge: 'front->*' })).toBe('calls from front');
    expect(flowText({ received: 'jobs', service: 'worker' })).toBe('messages worker received from jobs');
    expect(flowText({ sent: '*', service: 'front' })).toBe('messages front sent to any destination');
  });
  it('a caller through a topic says so', () => {
    expect(callerText({ service: 'checkout', calls: 3, rate: 1, via: 'orders' })).toBe('checkout via orders');
    expect(callerText({ service: 'user', calls: 3, rate: 1 })).toBe('user');
  });
  it('policy fields are column heads', () => {
    expect(fieldLabel('trace_id')).toBe('trace id');
    expect(fieldLabel('service_name')).toBe('service name');
  });
});
