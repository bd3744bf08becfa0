// Original file: ../../proto/convotic/host/v1/host.proto

import type { Conversation as _convotic_host_v1_Conversation, Conversation__Output as _convotic_host_v1_Conversation__Output } from '../../../convotic/host/v1/Conversation.js';

export interface ListConversationsResponse {
  'conversations'?: (_convotic_host_v1_Conversation)[];
  'next_page_token'?: (string);
}

export interface ListConversationsResponse__Output {
  'conversations': (_convotic_host_v1_Conversation__Output)[];
  'next_page_token': (string);
}
