// A copy of edge_runtime.manifest_schema.SCHEMA (`python -m edge_runtime.manifest_schema`); test/units.test.js compares them.
export default {
  "$schema": "https://json-schema.org/draft/2020-12/schema",
  "title": "mobilebert-edge bundle manifest, format_version 1",
  "type": "object",
  "required": [
    "format",
    "format_version",
    "labels",
    "model",
    "tokenizer",
    "files",
    "manifest_sha256"
  ],
  "additionalProperties": false,
  "properties": {
    "format": {
      "const": "mobilebert-edge-bundle"
    },
    "format_version": {
      "const": 1
    },
    "created": {
      "type": "string",
      "description": "UTC time of export, YYYY-MM-DDTHH:MM:SSZ"
    },
    "labels": {
      "type": "array",
      "items": {
        "type": "string",
        "minLength": 1
      },
      "minItems": 1,
      "uniqueItems": true,
      "description": "label names in logit order"
    },
    "model": {
      "type": "object",
      "required": [
        "file"
      ],
      "additionalProperties": false,
      "properties": {
        "file": {
          "type": "string",
          "minLength": 1
        },
        "precision": {
          "enum": [
            "fp32",
            "int8"
          ]
        },
        "inputs": {
          "type": "array",
          "items": {
            "type": "string",
            "minLength": 1
          },
          "uniqueItems": true
        },
        "output": {
          "type": "string",
          "minLength": 1
        },
        "architecture": {
          "type": "string"
        },
        "pooling": {
          "enum": [
            "cls",
            "mean"
          ]
        },
        "quantization": {
          "enum": [
            "static",
            "qdq",
            "dynamic"
          ]
        },
        "optimization_level": {
          "type": "string"
        },
        "graph_pass": {
          "type": "string",
          "description": "the export's own graph pass, e.g. mobilebert-fusion"
        },
        "contrib_ops": {
          "type": "array",
          "items": {
            "type": "string",
            "minLength": 1
          },
          "uniqueItems": true,
          "description": "com.microsoft op types the stored graph uses"
        }
      }
    },
    "tokenizer": {
      "type": "object",
      "required": [
        "file",
        "max_length",
        "truncation"
      ],
      "additionalProperties": false,
      "properties": {
        "file": {
          "type": "string",
          "minLength": 1
        },
        "max_length": {
          "type": "integer",
          "minimum": 3
        },
        "truncation": {
          "type": "object",
          "required": [
            "rule"
          ],
          "additionalProperties": false,
          "properties": {
            "rule": {
              "enum": [
                "head",
                "tail",
                "head_tail"
              ]
            },
            "head_tokens": {
              "type": [
                "integer",
                "null"
              ],
              "minimum": 0
            }
          }
        }
      }
    },
    "files": {
      "type": "object",
      "additionalProperties": {
        "type": "string",
        "pattern": "^[0-9a-f]{64}$"
      },
      "description": "sha256 of every file the runtime reads, by name relative to the bundle folder"
    },
    "versions": {
      "type": "object",
      "additionalProperties": {
        "type": "string"
      }
    },
    "report": {
      "type": "object",
      "description": "what export measured (free-form)"
    },
    "golden": {
      "type": "object",
      "required": [
        "atol",
        "examples"
      ],
      "additionalProperties": false,
      "properties": {
        "atol": {
          "type": "number",
          "exclusiveMinimum": 0
        },
        "batch_size": {
          "type": "integer",
          "minimum": 1
        },
        "batch_invariant": {
          "type": "boolean"
        },
        "examples": {
          "type": "array",
          "items": {
            "type": "object",
            "required": [
              "text",
              "probabilities"
            ],
            "additionalProperties": false,
            "properties": {
              "text": {
                "type": "string",
                "minLength": 1
              },
              "probabilities": {
                "anyOf": [
                  {
                    "type": "object",
                    "additionalProperties": {
                      "type": "number",
                      "minimum": 0,
                      "maximum": 1
                    },
                    "description": "by label name (bundles from now on)"
                  },
                  {
                    "type": "array",
                    "items": {
                      "type": "number",
                      "minimum": 0,
                      "maximum": 1
                    },
                    "description": "in label order (bundles made before)"
                  }
                ]
              }
            }
          }
        }
      }
    },
    "calibration": {
      "anyOf": [
        {
          "type": "null"
        },
        {
          "type": "object",
          "required": [
            "method",
            "temperature"
          ],
          "properties": {
            "method": {
              "const": "temperature"
            },
            "temperature": {
              "type": "number",
              "exclusiveMinimum": 0
            },
            "confidence_map": {
              "type": "object",
              "required": [
                "from",
                "to"
              ],
              "additionalProperties": false,
              "properties": {
                "from": {
                  "type": "array",
                  "items": {
                    "type": "number",
                    "minimum": 0,
                    "maximum": 1
                  },
                  "minItems": 2
                },
                "to": {
                  "type": "array",
                  "items": {
                    "type": "number",
                    "minimum": 0,
                    "maximum": 1
                  },
                  "minItems": 2
                }
              }
            }
          },
          "description": "probabilities = softmax(logits / temperature), then the top probability mapped by confidence_map (piecewise linear; from and to: the same length 2..64, from strictly increasing in (0, 1], to non-decreasing; edge_runtime.confidence); other keys: the fit report"
        }
      ]
    },
    "manifest_sha256": {
      "type": "string",
      "pattern": "^[0-9a-f]{64}$"
    }
  }
};
