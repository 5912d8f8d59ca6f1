import * as protobufNs from 'protobufjs/light.js';

// The part of onnx.proto (github.com/onnx/onnx, onnx/onnx.proto, syntax proto2, package onnx) that a model file
// needs, as a protobufjs JSON descriptor: the field numbers and types are those of the spec. Fields CAKE never
// reads (training_info, functions, sparse initializers, quantization annotations, …) are left out; protobufjs
// skips unknown fields when decoding, so files that use them still parse.

// protobufjs is CommonJS: under Node's ESM loader its API is the default export, under bundlers the namespace.
const protobuf = ((protobufNs as unknown as { default?: typeof protobufNs }).default ?? protobufNs) as typeof protobufNs;

const repeated = (type: string, id: number, packed?: boolean) => ({ rule: 'repeated', type, id, ...(packed === undefined ? {} : { options: { packed } }) });
const optional = (type: string, id: number) => ({ type, id });

export const ONNX_SCHEMA = {
  nested: {
    onnx: {
      nested: {
        AttributeProto: {
          fields: {
            name: optional('string', 1),
            ref_attr_name: optional('string', 21),
            doc_string: optional('string', 13),
            type: optional('AttributeType', 20),
            f: optional('float', 2),
            i: optional('int64', 3),
            s: optional('bytes', 4),
            t: optional('TensorProto', 5),
            g: optional('GraphProto', 6),
            floats: repeated('float', 7, false),
            ints: repeated('int64', 8, false),
            strings: repeated('bytes', 9),
            tensors: repeated('TensorProto', 10),
            graphs: repeated('GraphProto', 11),
          },
          nested: {
            AttributeType: {
              values: { UNDEFINED: 0, FLOAT: 1, INT: 2, STRING: 3, TENSOR: 4, GRAPH: 5, SPARSE_TENSOR: 11, TYPE_PROTO: 13, FLOATS: 6, INTS: 7, STRINGS: 8, TENSORS: 9, GRAPHS: 10, SPARSE_TENSORS: 12, TYPE_PROTOS: 14 },
            },
          },
        },
        ValueInfoProto: { fields: { name: optional('string', 1), type: optional('TypeProto', 2), doc_string: optional('string', 3) } },
        NodeProto: {
          fields: {
            input: repeated('string', 1),
            output: repeated('string', 2),
            name: optional('string', 3),
            op_type: optional('string', 4),
            domain: optional('string', 7),
            attribute: repeated('AttributeProto', 5),
            doc_string: optional('string', 6),
          },
        },
        ModelProto: {
          fields: {
            ir_version: optional('int64', 1),
            opset_import: repeated('OperatorSetIdProto', 8),
            producer_name: optional('string', 2),
            producer_version: optional('string', 3),
            domain: optional('string', 4),
            model_version: optional('int64', 5),
            doc_string: optional('string', 6),
            graph: optional('GraphProto', 7),
            metadata_props: repeated('StringStringEntryProto', 14),
          },
        },
        StringStringEntryProto: { fields: { key: optional('string', 1), value: optional('string', 2) } },
        GraphProto: {
          fields: {
            node: repeated('NodeProto', 1),
            name: optional('string', 2),
            initializer: repeated('TensorProto', 5),
            doc_string: optional('string', 10),
            input: repeated('ValueInfoProto', 11),
            output: repeated('ValueInfoProto', 12),
            value_info: repeated('ValueInfoProto', 13),
          },
        },
        TensorProto: {
          fields: {
            dims: repeated('int64', 1, false),
            data_type: optional('int32', 2),
            segment: optional('Segment', 3),
            float_data: repeated('float', 4, true),
            int32_data: repeated('int32', 5, true),
            string_data: repeated('bytes', 6),
            int64_data: repeated('int64', 7, true),
            name: optional('string', 8),
            doc_string: optional('string', 12),
            raw_data: optional('bytes', 9),
            external_data: repeated('StringStringEntryProto', 13),
            data_location: optional('DataLocation', 14),
            double_data: repeated('double', 10, true),
            uint64_data: repeated('uint64', 11, true),
          },
          nested: {
            Segment: { fields: { begin: optional('int64', 1), end: optional('int64', 2) } },
            DataType: {
              values: {
                UNDEFINED: 0,
                FLOAT: 1,
                UINT8: 2,
                INT8: 3,
                UINT16: 4,
                INT16: 5,
                INT32: 6,
                INT64: 7,
                STRING: 8,
                BOOL: 9,
                FLOAT16: 10,
                DOUBLE: 11,
                UINT32: 12,
                UINT64: 13,
                COMPLEX64: 14,
                COMPLEX128: 15,
                BFLOAT16: 16,
              },
            },
            DataLocation: { values: { DEFAULT: 0, EXTERNAL: 1 } },
          },
        },
        TensorShapeProto: {
          fields: { dim: repeated('Dimension', 1) },
          nested: {
            Dimension: {
              oneofs: { value: { oneof: ['dim_value', 'dim_param'] } },
              fields: { dim_value: optional('int64', 1), dim_param: optional('string', 2), denotation: optional('string', 3) },
            },
          },
        },
        TypeProto: {
          oneofs: { value: { oneof: ['tensor_type', 'sequence_type', 'map_type'] } },
          fields: {
            tensor_type: optional('Tensor', 1),
            sequence_type: optional('Sequence', 4),
            map_type: optional('Map', 5),
            denotation: optional('string', 6),
          },
          nested: {
            Tensor: { fields: { elem_type: optional('int32', 1), shape: optional('TensorShapeProto', 2) } },
            Sequence: { fields: { elem_type: optional('TypeProto', 1) } },
            Map: { fields: { key_type: optional('int32', 1), value_type: optional('TypeProto', 2) } },
          },
        },
        OperatorSetIdProto: { fields: { domain: optional('string', 1), version: optional('int64', 2) } },
      },
    },
  },
};

/** ONNX TensorProto.DataType values used here. */
export const DataType = { FLOAT: 1, UINT8: 2, INT8: 3, UINT16: 4, INT16: 5, INT32: 6, INT64: 7, STRING: 8, BOOL: 9, FLOAT16: 10, DOUBLE: 11, UINT32: 12, UINT64: 13, BFLOAT16: 16 } as const;

let root: protobufNs.Root | undefined;

/** The onnx.ModelProto message type (for decoding files, and for writing them in tests). */
export function modelProto(): protobufNs.Type {
  root ??= protobuf.Root.fromJSON(ONNX_SCHEMA);
  return root.lookupType('onnx.ModelProto');
}

// Plain-object shapes of the decoded messages (toObject with longs as numbers, bytes as Uint8Array).
export interface TensorProtoObj {
  dims?: number[];
  data_type?: number;
  float_data?: number[];
  int32_data?: number[];
  int64_data?: number[];
  double_data?: number[];
  uint64_data?: number[];
  name?: string;
  raw_data?: Uint8Array;
  external_data?: { key?: string; value?: string }[];
  data_location?: number;
}
export interface AttributeProtoObj {
  name?: string;
  type?: number;
  f?: number;
  i?: number;
  s?: Uint8Array;
  t?: TensorProtoObj;
  floats?: number[];
  ints?: number[];
  strings?: Uint8Array[];
  g?: unknown;
}
export interface NodeProtoObj {
  input?: string[];
  output?: string[];
  name?: string;
  op_type?: string;
  domain?: string;
  attribute?: AttributeProtoObj[];
}
export interface ValueInfoProtoObj {
  name?: string;
  type?: { tensor_type?: { elem_type?: number; shape?: { dim?: { dim_value?: number; dim_param?: string }[] } } };
}
export interface GraphProtoObj {
  node?: NodeProtoObj[];
  name?: string;
  initializer?: TensorProtoObj[];
  input?: ValueInfoProtoObj[];
  output?: ValueInfoProtoObj[];
  value_info?: ValueInfoProtoObj[];
}
export interface ModelProtoObj {
  ir_version?: number;
  opset_import?: { domain?: string; version?: number }[];
  producer_name?: string;
  producer_version?: string;
  graph?: GraphProtoObj;
}
