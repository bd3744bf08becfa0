import type * as grpc from '@grpc/grpc-js';
import type { EnumTypeDefinition, MessageTypeDefinition } from '@grpc/proto-loader';

import type { ActionDef as _convotic_plugin_v1_ActionDef, ActionDef__Output as _convotic_plugin_v1_ActionDef__Output } from './convotic/plugin/v1/ActionDef.js';
import type { BlockActionCall as _convotic_plugin_v1_BlockActionCall, BlockActionCall__Output as _convotic_plugin_v1_BlockActionCall__Output } from './convotic/plugin/v1/BlockActionCall.js';
import type { BlockActionResult as _convotic_plugin_v1_BlockActionResult, BlockActionResult__Output as _convotic_plugin_v1_BlockActionResult__Output } from './convotic/plugin/v1/BlockActionResult.js';
import type { BlockDef as _convotic_plugin_v1_BlockDef, BlockDef__Output as _convotic_plugin_v1_BlockDef__Output } from './convotic/plugin/v1/BlockDef.js';
import type { BlockTestConnection as _convotic_plugin_v1_BlockTestConnection, BlockTestConnection__Output as _convotic_plugin_v1_BlockTestConnection__Output } from './convotic/plugin/v1/BlockTestConnection.js';
import type { BlockTestResult as _convotic_plugin_v1_BlockTestResult, BlockTestResult__Output as _convotic_plugin_v1_BlockTestResult__Output } from './convotic/plugin/v1/BlockTestResult.js';
import type { Cancel as _convotic_plugin_v1_Cancel, Cancel__Output as _convotic_plugin_v1_Cancel__Output } from './convotic/plugin/v1/Cancel.js';
import type { Connection as _convotic_plugin_v1_Connection, Connection__Output as _convotic_plugin_v1_Connection__Output } from './convotic/plugin/v1/Connection.js';
import type { CronDef as _convotic_plugin_v1_CronDef, CronDef__Output as _convotic_plugin_v1_CronDef__Output } from './convotic/plugin/v1/CronDef.js';
import type { CronResult as _convotic_plugin_v1_CronResult, CronResult__Output as _convotic_plugin_v1_CronResult__Output } from './convotic/plugin/v1/CronResult.js';
import type { CronTick as _convotic_plugin_v1_CronTick, CronTick__Output as _convotic_plugin_v1_CronTick__Output } from './convotic/plugin/v1/CronTick.js';
import type { DescribeRequest as _convotic_plugin_v1_DescribeRequest, DescribeRequest__Output as _convotic_plugin_v1_DescribeRequest__Output } from './convotic/plugin/v1/DescribeRequest.js';
import type { DescribeResponse as _convotic_plugin_v1_DescribeResponse, DescribeResponse__Output as _convotic_plugin_v1_DescribeResponse__Output } from './convotic/plugin/v1/DescribeResponse.js';
import type { Error as _convotic_plugin_v1_Error, Error__Output as _convotic_plugin_v1_Error__Output } from './convotic/plugin/v1/Error.js';
import type { Invocation as _convotic_plugin_v1_Invocation, Invocation__Output as _convotic_plugin_v1_Invocation__Output } from './convotic/plugin/v1/Invocation.js';
import type { LaneOpen as _convotic_plugin_v1_LaneOpen, LaneOpen__Output as _convotic_plugin_v1_LaneOpen__Output } from './convotic/plugin/v1/LaneOpen.js';
import type { LaneReady as _convotic_plugin_v1_LaneReady, LaneReady__Output as _convotic_plugin_v1_LaneReady__Output } from './convotic/plugin/v1/LaneReady.js';
import type { Manifest as _convotic_plugin_v1_Manifest, Manifest__Output as _convotic_plugin_v1_Manifest__Output } from './convotic/plugin/v1/Manifest.js';
import type { ModuleFrame as _convotic_plugin_v1_ModuleFrame, ModuleFrame__Output as _convotic_plugin_v1_ModuleFrame__Output } from './convotic/plugin/v1/ModuleFrame.js';
import type { NodeDef as _convotic_plugin_v1_NodeDef, NodeDef__Output as _convotic_plugin_v1_NodeDef__Output } from './convotic/plugin/v1/NodeDef.js';
import type { NodeInvocation as _convotic_plugin_v1_NodeInvocation, NodeInvocation__Output as _convotic_plugin_v1_NodeInvocation__Output } from './convotic/plugin/v1/NodeInvocation.js';
import type { NodeResult as _convotic_plugin_v1_NodeResult, NodeResult__Output as _convotic_plugin_v1_NodeResult__Output } from './convotic/plugin/v1/NodeResult.js';
import type { Outcome as _convotic_plugin_v1_Outcome, Outcome__Output as _convotic_plugin_v1_Outcome__Output } from './convotic/plugin/v1/Outcome.js';
import type { OutcomeBatch as _convotic_plugin_v1_OutcomeBatch, OutcomeBatch__Output as _convotic_plugin_v1_OutcomeBatch__Output } from './convotic/plugin/v1/OutcomeBatch.js';
import type { PluginClient as _convotic_plugin_v1_PluginClient, PluginDefinition as _convotic_plugin_v1_PluginDefinition } from './convotic/plugin/v1/Plugin.js';
import type { RouteDef as _convotic_plugin_v1_RouteDef, RouteDef__Output as _convotic_plugin_v1_RouteDef__Output } from './convotic/plugin/v1/RouteDef.js';
import type { RouteRequest as _convotic_plugin_v1_RouteRequest, RouteRequest__Output as _convotic_plugin_v1_RouteRequest__Output } from './convotic/plugin/v1/RouteRequest.js';
import type { RouteResponse as _convotic_plugin_v1_RouteResponse, RouteResponse__Output as _convotic_plugin_v1_RouteResponse__Output } from './convotic/plugin/v1/RouteResponse.js';
import type { SdkInfo as _convotic_plugin_v1_SdkInfo, SdkInfo__Output as _convotic_plugin_v1_SdkInfo__Output } from './convotic/plugin/v1/SdkInfo.js';
import type { ShutdownRequest as _convotic_plugin_v1_ShutdownRequest, ShutdownRequest__Output as _convotic_plugin_v1_ShutdownRequest__Output } from './convotic/plugin/v1/ShutdownRequest.js';
import type { ShutdownResponse as _convotic_plugin_v1_ShutdownResponse, ShutdownResponse__Output as _convotic_plugin_v1_ShutdownResponse__Output } from './convotic/plugin/v1/ShutdownResponse.js';
import type { SupervisorFrame as _convotic_plugin_v1_SupervisorFrame, SupervisorFrame__Output as _convotic_plugin_v1_SupervisorFrame__Output } from './convotic/plugin/v1/SupervisorFrame.js';
import type { WorkBatch as _convotic_plugin_v1_WorkBatch, WorkBatch__Output as _convotic_plugin_v1_WorkBatch__Output } from './convotic/plugin/v1/WorkBatch.js';
import type { WorkerDef as _convotic_plugin_v1_WorkerDef, WorkerDef__Output as _convotic_plugin_v1_WorkerDef__Output } from './convotic/plugin/v1/WorkerDef.js';
import type { WorkerMessage as _convotic_plugin_v1_WorkerMessage, WorkerMessage__Output as _convotic_plugin_v1_WorkerMessage__Output } from './convotic/plugin/v1/WorkerMessage.js';
import type { WorkerResult as _convotic_plugin_v1_WorkerResult, WorkerResult__Output as _convotic_plugin_v1_WorkerResult__Output } from './convotic/plugin/v1/WorkerResult.js';

type SubtypeConstructor<Constructor extends new (...args: any) => any, Subtype> = {
  new(...args: ConstructorParameters<Constructor>): Subtype;
};

export interface ProtoGrpcType {
  convotic: {
    plugin: {
      v1: {
        ActionDef: MessageTypeDefinition<_convotic_plugin_v1_ActionDef, _convotic_plugin_v1_ActionDef__Output>
        AuthMode: EnumTypeDefinition
        BlockActionCall: MessageTypeDefinition<_convotic_plugin_v1_BlockActionCall, _convotic_plugin_v1_BlockActionCall__Output>
        BlockActionResult: MessageTypeDefinition<_convotic_plugin_v1_BlockActionResult, _convotic_plugin_v1_BlockActionResult__Output>
        BlockDef: MessageTypeDefinition<_convotic_plugin_v1_BlockDef, _convotic_plugin_v1_BlockDef__Output>
        BlockTestConnection: MessageTypeDefinition<_convotic_plugin_v1_BlockTestConnection, _convotic_plugin_v1_BlockTestConnection__Output>
        BlockTestResult: MessageTypeDefinition<_convotic_plugin_v1_BlockTestResult, _convotic_plugin_v1_BlockTestResult__Output>
        BodyKind: EnumTypeDefinition
        Cancel: MessageTypeDefinition<_convotic_plugin_v1_Cancel, _convotic_plugin_v1_Cancel__Output>
        CatchUpPolicy: EnumTypeDefinition
        Connection: MessageTypeDefinition<_convotic_plugin_v1_Connection, _convotic_plugin_v1_Connection__Output>
        CronDef: MessageTypeDefinition<_convotic_plugin_v1_CronDef, _convotic_plugin_v1_CronDef__Output>
        CronResult: MessageTypeDefinition<_convotic_plugin_v1_CronResult, _convotic_plugin_v1_CronResult__Output>
        CronTick: MessageTypeDefinition<_convotic_plugin_v1_CronTick, _convotic_plugin_v1_CronTick__Output>
        DescribeRequest: MessageTypeDefinition<_convotic_plugin_v1_DescribeRequest, _convotic_plugin_v1_DescribeRequest__Output>
        DescribeResponse: MessageTypeDefinition<_convotic_plugin_v1_DescribeResponse, _convotic_plugin_v1_DescribeResponse__Output>
        Disposition: EnumTypeDefinition
        Error: MessageTypeDefinition<_convotic_plugin_v1_Error, _convotic_plugin_v1_Error__Output>
        ErrorCode: EnumTypeDefinition
        Invocation: MessageTypeDefinition<_convotic_plugin_v1_Invocation, _convotic_plugin_v1_Invocation__Output>
        LaneOpen: MessageTypeDefinition<_convotic_plugin_v1_LaneOpen, _convotic_plugin_v1_LaneOpen__Output>
        LaneReady: MessageTypeDefinition<_convotic_plugin_v1_LaneReady, _convotic_plugin_v1_LaneReady__Output>
        Manifest: MessageTypeDefinition<_convotic_plugin_v1_Manifest, _convotic_plugin_v1_Manifest__Output>
        ModuleFrame: MessageTypeDefinition<_convotic_plugin_v1_ModuleFrame, _convotic_plugin_v1_ModuleFrame__Output>
        NodeDef: MessageTypeDefinition<_convotic_plugin_v1_NodeDef, _convotic_plugin_v1_NodeDef__Output>
        NodeInvocation: MessageTypeDefinition<_convotic_plugin_v1_NodeInvocation, _convotic_plugin_v1_NodeInvocation__Output>
        NodeResult: MessageTypeDefinition<_convotic_plugin_v1_NodeResult, _convotic_plugin_v1_NodeResult__Output>
        Outcome: MessageTypeDefinition<_convotic_plugin_v1_Outcome, _convotic_plugin_v1_Outcome__Output>
        OutcomeBatch: MessageTypeDefinition<_convotic_plugin_v1_OutcomeBatch, _convotic_plugin_v1_OutcomeBatch__Output>
        OverlapPolicy: EnumTypeDefinition
        /**
         * The service every module serves on CONVOTIC_PLUGIN_SOCKET.
         */
        Plugin: SubtypeConstructor<typeof grpc.Client, _convotic_plugin_v1_PluginClient> & { service: _convotic_plugin_v1_PluginDefinition }
        RouteDef: MessageTypeDefinition<_convotic_plugin_v1_RouteDef, _convotic_plugin_v1_RouteDef__Output>
        RouteRequest: MessageTypeDefinition<_convotic_plugin_v1_RouteRequest, _convotic_plugin_v1_RouteRequest__Output>
        RouteResponse: MessageTypeDefinition<_convotic_plugin_v1_RouteResponse, _convotic_plugin_v1_RouteResponse__Output>
        SdkInfo: MessageTypeDefinition<_convotic_plugin_v1_SdkInfo, _convotic_plugin_v1_SdkInfo__Output>
        ShutdownRequest: MessageTypeDefinition<_convotic_plugin_v1_ShutdownRequest, _convotic_plugin_v1_ShutdownRequest__Output>
        ShutdownResponse: MessageTypeDefinition<_convotic_plugin_v1_ShutdownResponse, _convotic_plugin_v1_ShutdownResponse__Output>
        SupervisorFrame: MessageTypeDefinition<_convotic_plugin_v1_SupervisorFrame, _convotic_plugin_v1_SupervisorFrame__Output>
        WorkBatch: MessageTypeDefinition<_convotic_plugin_v1_WorkBatch, _convotic_plugin_v1_WorkBatch__Output>
        WorkerDef: MessageTypeDefinition<_convotic_plugin_v1_WorkerDef, _convotic_plugin_v1_WorkerDef__Output>
        WorkerMessage: MessageTypeDefinition<_convotic_plugin_v1_WorkerMessage, _convotic_plugin_v1_WorkerMessage__Output>
        WorkerResult: MessageTypeDefinition<_convotic_plugin_v1_WorkerResult, _convotic_plugin_v1_WorkerResult__Output>
      }
    }
  }
}

