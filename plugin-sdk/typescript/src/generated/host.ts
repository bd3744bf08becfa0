import type * as grpc from '@grpc/grpc-js';
import type { EnumTypeDefinition, MessageTypeDefinition } from '@grpc/proto-loader';

import type { CloseConversationRequest as _convotic_host_v1_CloseConversationRequest, CloseConversationRequest__Output as _convotic_host_v1_CloseConversationRequest__Output } from './convotic/host/v1/CloseConversationRequest.js';
import type { Contact as _convotic_host_v1_Contact, Contact__Output as _convotic_host_v1_Contact__Output } from './convotic/host/v1/Contact.js';
import type { ContactsClient as _convotic_host_v1_ContactsClient, ContactsDefinition as _convotic_host_v1_ContactsDefinition } from './convotic/host/v1/Contacts.js';
import type { Conversation as _convotic_host_v1_Conversation, Conversation__Output as _convotic_host_v1_Conversation__Output } from './convotic/host/v1/Conversation.js';
import type { ConversationsClient as _convotic_host_v1_ConversationsClient, ConversationsDefinition as _convotic_host_v1_ConversationsDefinition } from './convotic/host/v1/Conversations.js';
import type { CreateContactRequest as _convotic_host_v1_CreateContactRequest, CreateContactRequest__Output as _convotic_host_v1_CreateContactRequest__Output } from './convotic/host/v1/CreateContactRequest.js';
import type { CreateConversationRequest as _convotic_host_v1_CreateConversationRequest, CreateConversationRequest__Output as _convotic_host_v1_CreateConversationRequest__Output } from './convotic/host/v1/CreateConversationRequest.js';
import type { DeleteContactRequest as _convotic_host_v1_DeleteContactRequest, DeleteContactRequest__Output as _convotic_host_v1_DeleteContactRequest__Output } from './convotic/host/v1/DeleteContactRequest.js';
import type { DeleteContactResponse as _convotic_host_v1_DeleteContactResponse, DeleteContactResponse__Output as _convotic_host_v1_DeleteContactResponse__Output } from './convotic/host/v1/DeleteContactResponse.js';
import type { FindByExternalIdRequest as _convotic_host_v1_FindByExternalIdRequest, FindByExternalIdRequest__Output as _convotic_host_v1_FindByExternalIdRequest__Output } from './convotic/host/v1/FindByExternalIdRequest.js';
import type { GetContactRequest as _convotic_host_v1_GetContactRequest, GetContactRequest__Output as _convotic_host_v1_GetContactRequest__Output } from './convotic/host/v1/GetContactRequest.js';
import type { GetConversationRequest as _convotic_host_v1_GetConversationRequest, GetConversationRequest__Output as _convotic_host_v1_GetConversationRequest__Output } from './convotic/host/v1/GetConversationRequest.js';
import type { GetMessageRequest as _convotic_host_v1_GetMessageRequest, GetMessageRequest__Output as _convotic_host_v1_GetMessageRequest__Output } from './convotic/host/v1/GetMessageRequest.js';
import type { GetWorkflowRunRequest as _convotic_host_v1_GetWorkflowRunRequest, GetWorkflowRunRequest__Output as _convotic_host_v1_GetWorkflowRunRequest__Output } from './convotic/host/v1/GetWorkflowRunRequest.js';
import type { HostCall as _convotic_host_v1_HostCall, HostCall__Output as _convotic_host_v1_HostCall__Output } from './convotic/host/v1/HostCall.js';
import type { HostCallBatch as _convotic_host_v1_HostCallBatch, HostCallBatch__Output as _convotic_host_v1_HostCallBatch__Output } from './convotic/host/v1/HostCallBatch.js';
import type { HostReply as _convotic_host_v1_HostReply, HostReply__Output as _convotic_host_v1_HostReply__Output } from './convotic/host/v1/HostReply.js';
import type { HostReplyBatch as _convotic_host_v1_HostReplyBatch, HostReplyBatch__Output as _convotic_host_v1_HostReplyBatch__Output } from './convotic/host/v1/HostReplyBatch.js';
import type { HostStreamClient as _convotic_host_v1_HostStreamClient, HostStreamDefinition as _convotic_host_v1_HostStreamDefinition } from './convotic/host/v1/HostStream.js';
import type { ListContactsRequest as _convotic_host_v1_ListContactsRequest, ListContactsRequest__Output as _convotic_host_v1_ListContactsRequest__Output } from './convotic/host/v1/ListContactsRequest.js';
import type { ListContactsResponse as _convotic_host_v1_ListContactsResponse, ListContactsResponse__Output as _convotic_host_v1_ListContactsResponse__Output } from './convotic/host/v1/ListContactsResponse.js';
import type { ListConversationsRequest as _convotic_host_v1_ListConversationsRequest, ListConversationsRequest__Output as _convotic_host_v1_ListConversationsRequest__Output } from './convotic/host/v1/ListConversationsRequest.js';
import type { ListConversationsResponse as _convotic_host_v1_ListConversationsResponse, ListConversationsResponse__Output as _convotic_host_v1_ListConversationsResponse__Output } from './convotic/host/v1/ListConversationsResponse.js';
import type { LogRequest as _convotic_host_v1_LogRequest, LogRequest__Output as _convotic_host_v1_LogRequest__Output } from './convotic/host/v1/LogRequest.js';
import type { LogResponse as _convotic_host_v1_LogResponse, LogResponse__Output as _convotic_host_v1_LogResponse__Output } from './convotic/host/v1/LogResponse.js';
import type { LoggerClient as _convotic_host_v1_LoggerClient, LoggerDefinition as _convotic_host_v1_LoggerDefinition } from './convotic/host/v1/Logger.js';
import type { MessagesClient as _convotic_host_v1_MessagesClient, MessagesDefinition as _convotic_host_v1_MessagesDefinition } from './convotic/host/v1/Messages.js';
import type { OutboundMessage as _convotic_host_v1_OutboundMessage, OutboundMessage__Output as _convotic_host_v1_OutboundMessage__Output } from './convotic/host/v1/OutboundMessage.js';
import type { SendMessageRequest as _convotic_host_v1_SendMessageRequest, SendMessageRequest__Output as _convotic_host_v1_SendMessageRequest__Output } from './convotic/host/v1/SendMessageRequest.js';
import type { StorageClient as _convotic_host_v1_StorageClient, StorageDefinition as _convotic_host_v1_StorageDefinition } from './convotic/host/v1/Storage.js';
import type { StorageCompareAndSetRequest as _convotic_host_v1_StorageCompareAndSetRequest, StorageCompareAndSetRequest__Output as _convotic_host_v1_StorageCompareAndSetRequest__Output } from './convotic/host/v1/StorageCompareAndSetRequest.js';
import type { StorageDeleteRequest as _convotic_host_v1_StorageDeleteRequest, StorageDeleteRequest__Output as _convotic_host_v1_StorageDeleteRequest__Output } from './convotic/host/v1/StorageDeleteRequest.js';
import type { StorageDeleteResponse as _convotic_host_v1_StorageDeleteResponse, StorageDeleteResponse__Output as _convotic_host_v1_StorageDeleteResponse__Output } from './convotic/host/v1/StorageDeleteResponse.js';
import type { StorageEntry as _convotic_host_v1_StorageEntry, StorageEntry__Output as _convotic_host_v1_StorageEntry__Output } from './convotic/host/v1/StorageEntry.js';
import type { StorageGetRequest as _convotic_host_v1_StorageGetRequest, StorageGetRequest__Output as _convotic_host_v1_StorageGetRequest__Output } from './convotic/host/v1/StorageGetRequest.js';
import type { StorageListRequest as _convotic_host_v1_StorageListRequest, StorageListRequest__Output as _convotic_host_v1_StorageListRequest__Output } from './convotic/host/v1/StorageListRequest.js';
import type { StorageListResponse as _convotic_host_v1_StorageListResponse, StorageListResponse__Output as _convotic_host_v1_StorageListResponse__Output } from './convotic/host/v1/StorageListResponse.js';
import type { StorageSetRequest as _convotic_host_v1_StorageSetRequest, StorageSetRequest__Output as _convotic_host_v1_StorageSetRequest__Output } from './convotic/host/v1/StorageSetRequest.js';
import type { TriggerWorkflowRequest as _convotic_host_v1_TriggerWorkflowRequest, TriggerWorkflowRequest__Output as _convotic_host_v1_TriggerWorkflowRequest__Output } from './convotic/host/v1/TriggerWorkflowRequest.js';
import type { UpdateContactRequest as _convotic_host_v1_UpdateContactRequest, UpdateContactRequest__Output as _convotic_host_v1_UpdateContactRequest__Output } from './convotic/host/v1/UpdateContactRequest.js';
import type { UpdateConversationRequest as _convotic_host_v1_UpdateConversationRequest, UpdateConversationRequest__Output as _convotic_host_v1_UpdateConversationRequest__Output } from './convotic/host/v1/UpdateConversationRequest.js';
import type { WorkflowRun as _convotic_host_v1_WorkflowRun, WorkflowRun__Output as _convotic_host_v1_WorkflowRun__Output } from './convotic/host/v1/WorkflowRun.js';
import type { WorkflowsClient as _convotic_host_v1_WorkflowsClient, WorkflowsDefinition as _convotic_host_v1_WorkflowsDefinition } from './convotic/host/v1/Workflows.js';

type SubtypeConstructor<Constructor extends new (...args: any) => any, Subtype> = {
  new(...args: ConstructorParameters<Constructor>): Subtype;
};

export interface ProtoGrpcType {
  convotic: {
    host: {
      v1: {
        CloseConversationRequest: MessageTypeDefinition<_convotic_host_v1_CloseConversationRequest, _convotic_host_v1_CloseConversationRequest__Output>
        Contact: MessageTypeDefinition<_convotic_host_v1_Contact, _convotic_host_v1_Contact__Output>
        Contacts: SubtypeConstructor<typeof grpc.Client, _convotic_host_v1_ContactsClient> & { service: _convotic_host_v1_ContactsDefinition }
        Conversation: MessageTypeDefinition<_convotic_host_v1_Conversation, _convotic_host_v1_Conversation__Output>
        Conversations: SubtypeConstructor<typeof grpc.Client, _convotic_host_v1_ConversationsClient> & { service: _convotic_host_v1_ConversationsDefinition }
        CreateContactRequest: MessageTypeDefinition<_convotic_host_v1_CreateContactRequest, _convotic_host_v1_CreateContactRequest__Output>
        CreateConversationRequest: MessageTypeDefinition<_convotic_host_v1_CreateConversationRequest, _convotic_host_v1_CreateConversationRequest__Output>
        DeleteContactRequest: MessageTypeDefinition<_convotic_host_v1_DeleteContactRequest, _convotic_host_v1_DeleteContactRequest__Output>
        DeleteContactResponse: MessageTypeDefinition<_convotic_host_v1_DeleteContactResponse, _convotic_host_v1_DeleteContactResponse__Output>
        FindByExternalIdRequest: MessageTypeDefinition<_convotic_host_v1_FindByExternalIdRequest, _convotic_host_v1_FindByExternalIdRequest__Output>
        GetContactRequest: MessageTypeDefinition<_convotic_host_v1_GetContactRequest, _convotic_host_v1_GetContactRequest__Output>
        GetConversationRequest: MessageTypeDefinition<_convotic_host_v1_GetConversationRequest, _convotic_host_v1_GetConversationRequest__Output>
        GetMessageRequest: MessageTypeDefinition<_convotic_host_v1_GetMessageRequest, _convotic_host_v1_GetMessageRequest__Output>
        GetWorkflowRunRequest: MessageTypeDefinition<_convotic_host_v1_GetWorkflowRunRequest, _convotic_host_v1_GetWorkflowRunRequest__Output>
        HostCall: MessageTypeDefinition<_convotic_host_v1_HostCall, _convotic_host_v1_HostCall__Output>
        HostCallBatch: MessageTypeDefinition<_convotic_host_v1_HostCallBatch, _convotic_host_v1_HostCallBatch__Output>
        HostReply: MessageTypeDefinition<_convotic_host_v1_HostReply, _convotic_host_v1_HostReply__Output>
        HostReplyBatch: MessageTypeDefinition<_convotic_host_v1_HostReplyBatch, _convotic_host_v1_HostReplyBatch__Output>
        /**
         * Every unary call above, carried on one bidirectional stream instead of one HTTP/2 stream per
         * call: the module sends `HostCall`s with ids of its choosing, the supervisor answers each with
         * exactly one `HostReply` of the same id, in any order. The stream carries the token metadata
         * once, when it opens. Offered by the supervisor in `DescribeRequest.features`; a module that
         * does not use it makes unary calls as before.
         */
        HostStream: SubtypeConstructor<typeof grpc.Client, _convotic_host_v1_HostStreamClient> & { service: _convotic_host_v1_HostStreamDefinition }
        ListContactsRequest: MessageTypeDefinition<_convotic_host_v1_ListContactsRequest, _convotic_host_v1_ListContactsRequest__Output>
        ListContactsResponse: MessageTypeDefinition<_convotic_host_v1_ListContactsResponse, _convotic_host_v1_ListContactsResponse__Output>
        ListConversationsRequest: MessageTypeDefinition<_convotic_host_v1_ListConversationsRequest, _convotic_host_v1_ListConversationsRequest__Output>
        ListConversationsResponse: MessageTypeDefinition<_convotic_host_v1_ListConversationsResponse, _convotic_host_v1_ListConversationsResponse__Output>
        LogLevel: EnumTypeDefinition
        LogRequest: MessageTypeDefinition<_convotic_host_v1_LogRequest, _convotic_host_v1_LogRequest__Output>
        LogResponse: MessageTypeDefinition<_convotic_host_v1_LogResponse, _convotic_host_v1_LogResponse__Output>
        Logger: SubtypeConstructor<typeof grpc.Client, _convotic_host_v1_LoggerClient> & { service: _convotic_host_v1_LoggerDefinition }
        Messages: SubtypeConstructor<typeof grpc.Client, _convotic_host_v1_MessagesClient> & { service: _convotic_host_v1_MessagesDefinition }
        OutboundMessage: MessageTypeDefinition<_convotic_host_v1_OutboundMessage, _convotic_host_v1_OutboundMessage__Output>
        SendMessageRequest: MessageTypeDefinition<_convotic_host_v1_SendMessageRequest, _convotic_host_v1_SendMessageRequest__Output>
        /**
         * Key-value storage scoped to the calling module in its workspace.
         */
        Storage: SubtypeConstructor<typeof grpc.Client, _convotic_host_v1_StorageClient> & { service: _convotic_host_v1_StorageDefinition }
        StorageCompareAndSetRequest: MessageTypeDefinition<_convotic_host_v1_StorageCompareAndSetRequest, _convotic_host_v1_StorageCompareAndSetRequest__Output>
        StorageDeleteRequest: MessageTypeDefinition<_convotic_host_v1_StorageDeleteRequest, _convotic_host_v1_StorageDeleteRequest__Output>
        StorageDeleteResponse: MessageTypeDefinition<_convotic_host_v1_StorageDeleteResponse, _convotic_host_v1_StorageDeleteResponse__Output>
        StorageEntry: MessageTypeDefinition<_convotic_host_v1_StorageEntry, _convotic_host_v1_StorageEntry__Output>
        StorageGetRequest: MessageTypeDefinition<_convotic_host_v1_StorageGetRequest, _convotic_host_v1_StorageGetRequest__Output>
        StorageListRequest: MessageTypeDefinition<_convotic_host_v1_StorageListRequest, _convotic_host_v1_StorageListRequest__Output>
        StorageListResponse: MessageTypeDefinition<_convotic_host_v1_StorageListResponse, _convotic_host_v1_StorageListResponse__Output>
        StorageSetRequest: MessageTypeDefinition<_convotic_host_v1_StorageSetRequest, _convotic_host_v1_StorageSetRequest__Output>
        TriggerWorkflowRequest: MessageTypeDefinition<_convotic_host_v1_TriggerWorkflowRequest, _convotic_host_v1_TriggerWorkflowRequest__Output>
        UpdateContactRequest: MessageTypeDefinition<_convotic_host_v1_UpdateContactRequest, _convotic_host_v1_UpdateContactRequest__Output>
        UpdateConversationRequest: MessageTypeDefinition<_convotic_host_v1_UpdateConversationRequest, _convotic_host_v1_UpdateConversationRequest__Output>
        WorkflowRun: MessageTypeDefinition<_convotic_host_v1_WorkflowRun, _convotic_host_v1_WorkflowRun__Output>
        Workflows: SubtypeConstructor<typeof grpc.Client, _convotic_host_v1_WorkflowsClient> & { service: _convotic_host_v1_WorkflowsDefinition }
      }
    }
  }
}

