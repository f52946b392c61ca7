{
    "patcher": {
        "fileversion": 1,
        "appversion": {
            "major": 8,
            "minor": 6,
            "revision": 5,
            "architecture": "x64",
            "modernui": 1
        },
        "classnamespace": "box",
        "rect": [ 100.0, 100.0, 1240.0, 720.0 ],
        "openrect": [ 0.0, 0.0, 0.0, 169.0 ],
        "bglocked": 0,
        "openinpresentation": 1,
        "default_fontsize": 10.0,
        "default_fontface": 0,
        "default_fontname": "Arial Bold",
        "gridonopen": 1,
        "gridsize": [ 8.0, 8.0 ],
        "gridsnaponopen": 1,
        "objectsnaponopen": 1,
        "statusbarvisible": 2,
        "toolbarvisible": 1,
        "boxanimatetime": 500,
        "enablehscroll": 1,
        "enablevscroll": 1,
        "devicewidth": 0.0,
        "description": "Generate bar-exact clips with MusicGen and drop them into this track.",
        "digest": "",
        "tags": "",
        "style": "",
        "subpatcher_template": "",
        "assistshowspatchername": 0,
        "boxes": [
            {
                "box": {
                    "id": "obj-1",
                    "maxclass": "comment",
                    "numinlets": 1,
                    "numoutlets": 0,
                    "patching_rect": [ 16.0, 8.0, 560.0, 34.0 ],
                    "text": "MusicGen Bridge: drives a `musicgen-bridge serve` daemon over OSC and drops its clips into this track. All logic and Live API work is in musicgen_bridge.js (tested under Node with a fake LiveAPI); the patch only wires controls to it.",
                    "linecount": 3,
                    "fontface": 1
                }
            },
            {
                "box": {
                    "id": "obj-2",
                    "maxclass": "comment",
                    "numinlets": 1,
                    "numoutlets": 0,
                    "patching_rect": [ 660.0, 60.0, 240.0, 34.0 ],
                    "text": "An audio device must pass its input on; this one never touches the sound.",
                    "linecount": 2
                }
            },
            {
                "box": {
                    "id": "obj-3",
                    "maxclass": "newobj",
                    "numinlets": 2,
                    "numoutlets": 2,
                    "patching_rect": [ 660.0, 100.0, 60.0, 22.0 ],
                    "outlettype": [ "signal", "signal" ],
                    "text": "plugin~"
                }
            },
            {
                "box": {
                    "id": "obj-4",
                    "maxclass": "newobj",
                    "numinlets": 2,
                    "numoutlets": 2,
                    "patching_rect": [ 660.0, 160.0, 60.0, 22.0 ],
                    "outlettype": [ "signal", "signal" ],
                    "text": "plugout~"
                }
            },
            {
                "box": {
                    "id": "obj-5",
                    "maxclass": "comment",
                    "numinlets": 1,
                    "numoutlets": 0,
                    "patching_rect": [ 16.0, 50.0, 330.0, 48.0 ],
                    "text": "LiveAPI is usable only once live.thisdevice has banged. Controls are banged first so the js holds every restored value before it registers with the daemon.",
                    "linecount": 3
                }
            },
            {
                "box": {
                    "id": "obj-6",
                    "maxclass": "newobj",
                    "numinlets": 1,
                    "numoutlets": 3,
                    "patching_rect": [ 16.0, 104.0, 90.0, 22.0 ],
                    "outlettype": [ "bang", "int", "int" ],
                    "text": "live.thisdevice"
                }
            },
            {
                "box": {
                    "id": "obj-7",
                    "maxclass": "newobj",
                    "numinlets": 1,
                    "numoutlets": 2,
                    "patching_rect": [ 16.0, 136.0, 40.0, 22.0 ],
                    "outlettype": [ "bang", "bang" ],
                    "text": "t b b"
                }
            },
            {
                "box": {
                    "id": "obj-8",
                    "maxclass": "message",
                    "numinlets": 2,
                    "numoutlets": 1,
                    "patching_rect": [ 16.0, 168.0, 34.0, 22.0 ],
                    "outlettype": [ "" ],
                    "text": "init"
                }
            },
            {
                "box": {
                    "id": "obj-9",
                    "maxclass": "newobj",
                    "numinlets": 1,
                    "numoutlets": 5,
                    "patching_rect": [ 16.0, 560.0, 520.0, 22.0 ],
                    "outlettype": [ "", "", "", "", "" ],
                    "text": "js musicgen_bridge.js",
                    "saved_object_attributes": {
                        "filename": "musicgen_bridge.js",
                        "parameter_enable": 0
                    }
                }
            },
            {
                "box": {
                    "id": "obj-10",
                    "maxclass": "comment",
                    "numinlets": 1,
                    "numoutlets": 0,
                    "patching_rect": [ 16.0, 536.0, 520.0, 20.0 ],
                    "text": "outlets: OSC to udpsend | listening port to udpreceive | status text | progress 0..100 | style menu (clear, append, set)"
                }
            },
            {
                "box": {
                    "id": "obj-11",
                    "maxclass": "comment",
                    "numinlets": 1,
                    "numoutlets": 0,
                    "patching_rect": [ 16.0, 200.0, 300.0, 34.0 ],
                    "text": "Prompt: Return or Generate sends it. route text strips the textedit's selector; the pattr stores the text with the Live set.",
                    "linecount": 3
                }
            },
            {
                "box": {
                    "id": "obj-12",
                    "maxclass": "textedit",
                    "numinlets": 1,
                    "numoutlets": 4,
                    "patching_rect": [ 16.0, 240.0, 200.0, 44.0 ],
                    "outlettype": [ "", "int", "", "" ],
                    "presentation": 1,
                    "presentation_rect": [ 4.0, 4.0, 300.0, 44.0 ],
                    "keymode": 1,
                    "lines": 3,
                    "parameter_enable": 0,
                    "text": "",
                    "varname": "prompt_text",
                    "fontsize": 11.0,
                    "annotation": "Prompt: what to generate, e.g. dusty funk drums with a tight snare."
                }
            },
            {
                "box": {
                    "id": "obj-13",
                    "maxclass": "newobj",
                    "numinlets": 2,
                    "numoutlets": 2,
                    "patching_rect": [ 16.0, 296.0, 62.0, 22.0 ],
                    "outlettype": [ "", "" ],
                    "text": "route text"
                }
            },
            {
                "box": {
                    "id": "obj-14",
                    "maxclass": "newobj",
                    "numinlets": 1,
                    "numoutlets": 1,
                    "patching_rect": [ 16.0, 328.0, 92.0, 22.0 ],
                    "outlettype": [ "" ],
                    "text": "prepend prompt"
                }
            },
            {
                "box": {
                    "id": "obj-15",
                    "maxclass": "newobj",
                    "numinlets": 1,
                    "numoutlets": 3,
                    "patching_rect": [ 230.0, 240.0, 190.0, 22.0 ],
                    "outlettype": [ "", "", "" ],
                    "text": "pattr prompt @bindto prompt_text",
                    "varname": "prompt",
                    "saved_object_attributes": {
                        "parameter_enable": 1,
                        "parameter_mappable": 0
                    },
                    "saved_attribute_attributes": {
                        "valueof": {
                            "parameter_longname": "Prompt",
                            "parameter_shortname": "Prompt",
                            "parameter_type": 3,
                            "parameter_invisible": 1
                        }
                    }
                }
            },
            {
                "box": {
                    "id": "obj-16",
                    "maxclass": "comment",
                    "numinlets": 1,
                    "numoutlets": 0,
                    "patching_rect": [ 260.0, 296.0, 330.0, 48.0 ],
                    "text": "Live parameters, so they automate and MIDI-map in Live. Values go out in their own units on /musicgen/<param>; the exponent gives log-curved ones the daemon's midpoint.",
                    "linecount": 3
                }
            },
            {
                "box": {
                    "id": "obj-17",
                    "maxclass": "live.dial",
                    "numinlets": 1,
                    "numoutlets": 2,
                    "patching_rect": [ 260.0, 352.0, 48.0, 48.0 ],
                    "outlettype": [ "", "float" ],
                    "presentation": 1,
                    "presentation_rect": [ 4.0, 52.0, 48.0, 48.0 ],
                    "parameter_enable": 1,
                    "varname": "top_k",
                    "saved_attribute_attributes": {
                        "valueof": {
                            "parameter_longname": "Top-K",
                            "parameter_shortname": "Top-K",
                            "parameter_type": 0,
                            "parameter_mmin": 1.0,
                            "parameter_mmax": 2048.0,
                            "parameter_initial": [ 250.0 ],
                            "parameter_initial_enable": 1,
                            "parameter_exponent": 5.5315,
                            "parameter_unitstyle": 0,
                            "parameter_modmode": 0,
                            "parameter_info": "sample only among the k most likely tokens; lower is safer, higher is wilder"
                        }
                    }
                }
            },
            {
                "box": {
                    "id": "obj-18",
                    "maxclass": "newobj",
                    "numinlets": 1,
                    "numoutlets": 1,
                    "patching_rect": [ 260.0, 412.0, 90.0, 22.0 ],
                    "outlettype": [ "" ],
                    "text": "prepend knob top_k"
                }
            },
            {
                "box": {
                    "id": "obj-19",
                    "maxclass": "live.dial",
                    "numinlets": 1,
                    "numoutlets": 2,
                    "patching_rect": [ 390.0, 352.0, 48.0, 48.0 ],
                    "outlettype": [ "", "float" ],
                    "presentation": 1,
                    "presentation_rect": [ 56.0, 52.0, 48.0, 48.0 ],
                    "parameter_enable": 1,
                    "varname": "top_p",
                    "saved_attribute_attributes": {
                        "valueof": {
                            "parameter_longname": "Top-P",
                            "parameter_shortname": "Top-P",
                            "parameter_type": 0,
                            "parameter_mmin": 0.0,
                            "parameter_mmax": 1.0,
                            "parameter_initial": [ 0.0 ],
                            "parameter_initial_enable": 1,
                            "parameter_exponent": 1.0,
                            "parameter_unitstyle": 1,
                            "parameter_modmode": 0,
                            "parameter_info": "nucleus sampling mass; 0 means off (top-k alone decides)"
                        }
                    }
                }
            },
            {
                "box": {
                    "id": "obj-20",
                    "maxclass": "newobj",
                    "numinlets": 1,
                    "numoutlets": 1,
                    "patching_rect": [ 390.0, 412.0, 90.0, 22.0 ],
                    "outlettype": [ "" ],
                    "text": "prepend knob top_p"
                }
            },
            {
                "box": {
                    "id": "obj-21",
                    "maxclass": "live.dial",
                    "numinlets": 1,
                    "numoutlets": 2,
                    "patching_rect": [ 520.0, 352.0, 48.0, 48.0 ],
                    "outlettype": [ "", "float" ],
                    "presentation": 1,
                    "presentation_rect": [ 108.0, 52.0, 48.0, 48.0 ],
                    "parameter_enable": 1,
                    "varname": "temperature",
                    "saved_attribute_attributes": {
                        "valueof": {
                            "parameter_longname": "Temperature",
                            "parameter_shortname": "Temperature",
                            "parameter_type": 0,
                            "parameter_mmin": 0.05,
                            "parameter_mmax": 4.0,
                            "parameter_initial": [ 1.0 ],
                            "parameter_initial_enable": 1,
                            "parameter_exponent": 3.3139,
                            "parameter_unitstyle": 1,
                            "parameter_modmode": 0,
                            "parameter_info": "randomness of sampling; below 1 is conservative, above 1 adventurous"
                        }
                    }
                }
            },
            {
                "box": {
                    "id": "obj-22",
                    "maxclass": "newobj",
                    "numinlets": 1,
                    "numoutlets": 1,
                    "patching_rect": [ 520.0, 412.0, 110.0, 22.0 ],
                    "outlettype": [ "" ],
                    "text": "prepend knob temperature"
                }
            },
            {
                "box": {
                    "id": "obj-23",
                    "maxclass": "live.dial",
                    "numinlets": 1,
                    "numoutlets": 2,
                    "patching_rect": [ 650.0, 352.0, 48.0, 48.0 ],
                    "outlettype": [ "", "float" ],
                    "presentation": 1,
                    "presentation_rect": [ 160.0, 52.0, 48.0, 48.0 ],
                    "parameter_enable": 1,
                    "varname": "cfg",
                    "saved_attribute_attributes": {
                        "valueof": {
                            "parameter_longname": "CFG",
                            "parameter_shortname": "CFG",
                            "parameter_type": 0,
                            "parameter_mmin": 1.0,
                            "parameter_mmax": 15.0,
                            "parameter_initial": [ 3.0 ],
                            "parameter_initial_enable": 1,
                            "parameter_exponent": 1.0,
                            "parameter_unitstyle": 1,
                            "parameter_modmode": 0,
                            "parameter_info": "classifier-free guidance: how strongly the prompt steers; 1 turns it off"
                        }
                    }
                }
            },
            {
                "box": {
                    "id": "obj-24",
                    "maxclass": "newobj",
                    "numinlets": 1,
                    "numoutlets": 1,
                    "patching_rect": [ 650.0, 412.0, 90.0, 22.0 ],
                    "outlettype": [ "" ],
                    "text": "prepend knob cfg"
                }
            },
            {
                "box": {
                    "id": "obj-25",
                    "maxclass": "comment",
                    "numinlets": 1,
                    "numoutlets": 0,
                    "patching_rect": [ 780.0, 240.0, 100.0, 18.0 ],
                    "text": "Bars",
                    "presentation": 1,
                    "presentation_rect": [ 212.0, 52.0, 40.0, 18.0 ]
                }
            },
            {
                "box": {
                    "id": "obj-26",
                    "maxclass": "comment",
                    "numinlets": 1,
                    "numoutlets": 0,
                    "patching_rect": [ 780.0, 260.0, 100.0, 18.0 ],
                    "text": "Variations",
                    "presentation": 1,
                    "presentation_rect": [ 212.0, 70.0, 52.0, 18.0 ],
                    "linecount": 2
                }
            },
            {
                "box": {
                    "id": "obj-27",
                    "maxclass": "comment",
                    "numinlets": 1,
                    "numoutlets": 0,
                    "patching_rect": [ 780.0, 280.0, 100.0, 18.0 ],
                    "text": "Seed",
                    "presentation": 1,
                    "presentation_rect": [ 212.0, 88.0, 40.0, 18.0 ]
                }
            },
            {
                "box": {
                    "id": "obj-28",
                    "maxclass": "live.numbox",
                    "numinlets": 1,
                    "numoutlets": 2,
                    "patching_rect": [ 780.0, 320.0, 44.0, 15.0 ],
                    "outlettype": [ "", "float" ],
                    "presentation": 1,
                    "presentation_rect": [ 266.0, 53.0, 38.0, 15.0 ],
                    "parameter_enable": 1,
                    "varname": "bars",
                    "saved_attribute_attributes": {
                        "valueof": {
                            "parameter_longname": "Bars",
                            "parameter_shortname": "Bars",
                            "parameter_type": 0,
                            "parameter_mmin": 1.0,
                            "parameter_mmax": 512.0,
                            "parameter_initial": [ 4.0 ],
                            "parameter_initial_enable": 1,
                            "parameter_unitstyle": 0,
                            "parameter_modmode": 0,
                            "parameter_info": "clip length in bars"
                        }
                    }
                }
            },
            {
                "box": {
                    "id": "obj-29",
                    "maxclass": "live.numbox",
                    "numinlets": 1,
                    "numoutlets": 2,
                    "patching_rect": [ 840.0, 320.0, 44.0, 15.0 ],
                    "outlettype": [ "", "float" ],
                    "presentation": 1,
                    "presentation_rect": [ 266.0, 71.0, 38.0, 15.0 ],
                    "parameter_enable": 1,
                    "varname": "variations",
                    "saved_attribute_attributes": {
                        "valueof": {
                            "parameter_longname": "Variations",
                            "parameter_shortname": "Vars",
                            "parameter_type": 1,
                            "parameter_mmin": 1.0,
                            "parameter_mmax": 8.0,
                            "parameter_initial": [ 1.0 ],
                            "parameter_initial_enable": 1,
                            "parameter_unitstyle": 0,
                            "parameter_modmode": 0,
                            "parameter_info": "clips generated side by side in one batched call"
                        }
                    }
                }
            },
            {
                "box": {
                    "id": "obj-30",
                    "maxclass": "number",
                    "numinlets": 1,
                    "numoutlets": 2,
                    "patching_rect": [ 900.0, 320.0, 80.0, 22.0 ],
                    "outlettype": [ "", "bang" ],
                    "presentation": 1,
                    "presentation_rect": [ 254.0, 89.0, 50.0, 18.0 ],
                    "minimum": -1,
                    "maximum": 2147483647,
                    "parameter_enable": 0,
                    "varname": "seed_box",
                    "annotation": "Seed: -1 draws a new random seed for every request; any other number repeats a result."
                }
            },
            {
                "box": {
                    "id": "obj-31",
                    "maxclass": "newobj",
                    "numinlets": 1,
                    "numoutlets": 3,
                    "patching_rect": [ 900.0, 290.0, 160.0, 22.0 ],
                    "outlettype": [ "", "", "" ],
                    "text": "pattr seed @bindto seed_box",
                    "varname": "seed",
                    "saved_object_attributes": {
                        "parameter_enable": 1,
                        "parameter_mappable": 0
                    },
                    "saved_attribute_attributes": {
                        "valueof": {
                            "parameter_longname": "Seed",
                            "parameter_shortname": "Seed",
                            "parameter_type": 3,
                            "parameter_invisible": 1
                        }
                    }
                }
            },
            {
                "box": {
                    "id": "obj-32",
                    "maxclass": "comment",
                    "numinlets": 1,
                    "numoutlets": 0,
                    "patching_rect": [ 900.0, 250.0, 230.0, 34.0 ],
                    "text": "Seeds reach 2^31-1, past what a Live parameter holds exactly, so a plain number box stored through pattr.",
                    "linecount": 3
                }
            },
            {
                "box": {
                    "id": "obj-33",
                    "maxclass": "newobj",
                    "numinlets": 1,
                    "numoutlets": 1,
                    "patching_rect": [ 780.0, 352.0, 90.0, 22.0 ],
                    "outlettype": [ "" ],
                    "text": "prepend bars"
                }
            },
            {
                "box": {
                    "id": "obj-34",
                    "maxclass": "newobj",
                    "numinlets": 1,
                    "numoutlets": 1,
                    "patching_rect": [ 840.0, 352.0, 90.0, 22.0 ],
                    "outlettype": [ "" ],
                    "text": "prepend variations"
                }
            },
            {
                "box": {
                    "id": "obj-35",
                    "maxclass": "newobj",
                    "numinlets": 1,
                    "numoutlets": 1,
                    "patching_rect": [ 900.0, 352.0, 90.0, 22.0 ],
                    "outlettype": [ "" ],
                    "text": "prepend seed"
                }
            },
            {
                "box": {
                    "id": "obj-36",
                    "maxclass": "comment",
                    "numinlets": 1,
                    "numoutlets": 0,
                    "patching_rect": [ 16.0, 440.0, 420.0, 34.0 ],
                    "text": "Buttons are Live parameters too, so a pad can be MIDI-mapped to Generate. sel 1 keeps a press from firing twice; the trigger makes the prompt textedit send its text first.",
                    "linecount": 3
                }
            },
            {
                "box": {
                    "id": "obj-37",
                    "maxclass": "live.text",
                    "numinlets": 1,
                    "numoutlets": 2,
                    "patching_rect": [ 16.0, 480.0, 64.0, 20.0 ],
                    "outlettype": [ "", "" ],
                    "presentation": 1,
                    "presentation_rect": [ 4.0, 108.0, 96.0, 20.0 ],
                    "parameter_enable": 1,
                    "mode": 0,
                    "text": "Generate",
                    "texton": "Generate",
                    "varname": "generate",
                    "saved_attribute_attributes": {
                        "valueof": {
                            "parameter_longname": "Generate",
                            "parameter_shortname": "Generate",
                            "parameter_type": 2,
                            "parameter_enum": [ "off", "on" ],
                            "parameter_mmax": 1,
                            "parameter_modmode": 0
                        }
                    }
                }
            },
            {
                "box": {
                    "id": "obj-38",
                    "maxclass": "live.text",
                    "numinlets": 1,
                    "numoutlets": 2,
                    "patching_rect": [ 160.0, 480.0, 64.0, 20.0 ],
                    "outlettype": [ "", "" ],
                    "presentation": 1,
                    "presentation_rect": [ 104.0, 108.0, 96.0, 20.0 ],
                    "parameter_enable": 1,
                    "mode": 0,
                    "text": "Continue",
                    "texton": "Continue",
                    "varname": "continue",
                    "saved_attribute_attributes": {
                        "valueof": {
                            "parameter_longname": "Continue",
                            "parameter_shortname": "Continue",
                            "parameter_type": 2,
                            "parameter_enum": [ "off", "on" ],
                            "parameter_mmax": 1,
                            "parameter_modmode": 0
                        }
                    }
                }
            },
            {
                "box": {
                    "id": "obj-39",
                    "maxclass": "live.text",
                    "numinlets": 1,
                    "numoutlets": 2,
                    "patching_rect": [ 300.0, 480.0, 64.0, 20.0 ],
                    "outlettype": [ "", "" ],
                    "presentation": 1,
                    "presentation_rect": [ 204.0, 108.0, 100.0, 20.0 ],
                    "parameter_enable": 1,
                    "mode": 0,
                    "text": "Cancel",
                    "texton": "Cancel",
                    "varname": "cancel",
                    "saved_attribute_attributes": {
                        "valueof": {
                            "parameter_longname": "Cancel",
                            "parameter_shortname": "Cancel",
                            "parameter_type": 2,
                            "parameter_enum": [ "off", "on" ],
                            "parameter_mmax": 1,
                            "parameter_modmode": 0
                        }
                    }
                }
            },
            {
                "box": {
                    "id": "obj-40",
                    "maxclass": "newobj",
                    "numinlets": 2,
                    "numoutlets": 2,
                    "patching_rect": [ 16.0, 506.0, 36.0, 22.0 ],
                    "outlettype": [ "bang", "" ],
                    "text": "sel 1"
                }
            },
            {
                "box": {
                    "id": "obj-41",
                    "maxclass": "newobj",
                    "numinlets": 1,
                    "numoutlets": 2,
                    "patching_rect": [ 56.0, 506.0, 36.0, 22.0 ],
                    "outlettype": [ "bang", "bang" ],
                    "text": "t b b"
                }
            },
            {
                "box": {
                    "id": "obj-42",
                    "maxclass": "message",
                    "numinlets": 2,
                    "numoutlets": 1,
                    "patching_rect": [ 96.0, 506.0, 70.0, 22.0 ],
                    "outlettype": [ "" ],
                    "text": "generate"
                }
            },
            {
                "box": {
                    "id": "obj-43",
                    "maxclass": "newobj",
                    "numinlets": 2,
                    "numoutlets": 2,
                    "patching_rect": [ 160.0, 506.0, 36.0, 22.0 ],
                    "outlettype": [ "bang", "" ],
                    "text": "sel 1"
                }
            },
            {
                "box": {
                    "id": "obj-44",
                    "maxclass": "newobj",
                    "numinlets": 1,
                    "numoutlets": 2,
                    "patching_rect": [ 200.0, 506.0, 36.0, 22.0 ],
                    "outlettype": [ "bang", "bang" ],
                    "text": "t b b"
                }
            },
            {
                "box": {
                    "id": "obj-45",
                    "maxclass": "message",
                    "numinlets": 2,
                    "numoutlets": 1,
                    "patching_rect": [ 240.0, 506.0, 84.0, 22.0 ],
                    "outlettype": [ "" ],
                    "text": "continue_last"
                }
            },
            {
                "box": {
                    "id": "obj-46",
                    "maxclass": "newobj",
                    "numinlets": 2,
                    "numoutlets": 2,
                    "patching_rect": [ 300.0, 506.0, 36.0, 22.0 ],
                    "outlettype": [ "bang", "" ],
                    "text": "sel 1"
                }
            },
            {
                "box": {
                    "id": "obj-47",
                    "maxclass": "message",
                    "numinlets": 2,
                    "numoutlets": 1,
                    "patching_rect": [ 340.0, 506.0, 46.0, 22.0 ],
                    "outlettype": [ "" ],
                    "text": "cancel"
                }
            },
            {
                "box": {
                    "id": "obj-48",
                    "maxclass": "comment",
                    "numinlets": 1,
                    "numoutlets": 0,
                    "patching_rect": [ 1100.0, 420.0, 110.0, 18.0 ],
                    "text": "Daemon",
                    "presentation": 1,
                    "presentation_rect": [ 312.0, 4.0, 110.0, 18.0 ],
                    "fontface": 1
                }
            },
            {
                "box": {
                    "id": "obj-49",
                    "maxclass": "comment",
                    "numinlets": 1,
                    "numoutlets": 0,
                    "patching_rect": [ 1100.0, 440.0, 110.0, 18.0 ],
                    "text": "Host",
                    "presentation": 1,
                    "presentation_rect": [ 312.0, 22.0, 40.0, 18.0 ]
                }
            },
            {
                "box": {
                    "id": "obj-50",
                    "maxclass": "comment",
                    "numinlets": 1,
                    "numoutlets": 0,
                    "patching_rect": [ 1100.0, 460.0, 110.0, 18.0 ],
                    "text": "Port",
                    "presentation": 1,
                    "presentation_rect": [ 312.0, 40.0, 40.0, 18.0 ]
                }
            },
            {
                "box": {
                    "id": "obj-51",
                    "maxclass": "comment",
                    "numinlets": 1,
                    "numoutlets": 0,
                    "patching_rect": [ 1100.0, 480.0, 110.0, 18.0 ],
                    "text": "Reply port",
                    "presentation": 1,
                    "presentation_rect": [ 312.0, 58.0, 58.0, 18.0 ]
                }
            },
            {
                "box": {
                    "id": "obj-52",
                    "maxclass": "comment",
                    "numinlets": 1,
                    "numoutlets": 0,
                    "patching_rect": [ 660.0, 200.0, 330.0, 48.0 ],
                    "text": "Where the daemon listens, and where this device hears back. Each device needs its own reply port; 0 derives one from the device's Live id. Stored with the set, not automatable.",
                    "linecount": 3
                }
            },
            {
                "box": {
                    "id": "obj-53",
                    "maxclass": "textedit",
                    "numinlets": 1,
                    "numoutlets": 4,
                    "patching_rect": [ 660.0, 256.0, 110.0, 18.0 ],
                    "outlettype": [ "", "int", "", "" ],
                    "presentation": 1,
                    "presentation_rect": [ 352.0, 22.0, 70.0, 16.0 ],
                    "keymode": 1,
                    "lines": 1,
                    "parameter_enable": 0,
                    "text": "127.0.0.1",
                    "varname": "host_text",
                    "annotation": "Address of the machine running musicgen-bridge serve. Press Return to apply."
                }
            },
            {
                "box": {
                    "id": "obj-54",
                    "maxclass": "newobj",
                    "numinlets": 2,
                    "numoutlets": 2,
                    "patching_rect": [ 660.0, 282.0, 62.0, 22.0 ],
                    "outlettype": [ "", "" ],
                    "text": "route text"
                }
            },
            {
                "box": {
                    "id": "obj-55",
                    "maxclass": "newobj",
                    "numinlets": 1,
                    "numoutlets": 1,
                    "patching_rect": [ 660.0, 310.0, 80.0, 22.0 ],
                    "outlettype": [ "" ],
                    "text": "prepend host"
                }
            },
            {
                "box": {
                    "id": "obj-56",
                    "maxclass": "newobj",
                    "numinlets": 1,
                    "numoutlets": 3,
                    "patching_rect": [ 780.0, 200.0, 170.0, 22.0 ],
                    "outlettype": [ "", "", "" ],
                    "text": "pattr host @bindto host_text",
                    "varname": "host",
                    "saved_object_attributes": {
                        "parameter_enable": 1,
                        "parameter_mappable": 0
                    },
                    "saved_attribute_attributes": {
                        "valueof": {
                            "parameter_longname": "Daemon Host",
                            "parameter_shortname": "Host",
                            "parameter_type": 3,
                            "parameter_invisible": 1
                        }
                    }
                }
            },
            {
                "box": {
                    "id": "obj-57",
                    "maxclass": "live.numbox",
                    "numinlets": 1,
                    "numoutlets": 2,
                    "patching_rect": [ 1000.0, 256.0, 50.0, 15.0 ],
                    "outlettype": [ "", "float" ],
                    "presentation": 1,
                    "presentation_rect": [ 352.0, 41.0, 70.0, 15.0 ],
                    "parameter_enable": 1,
                    "varname": "daemon_port",
                    "saved_attribute_attributes": {
                        "valueof": {
                            "parameter_longname": "Daemon Port",
                            "parameter_shortname": "Port",
                            "parameter_type": 0,
                            "parameter_mmin": 1.0,
                            "parameter_mmax": 65535.0,
                            "parameter_initial": [ 9000.0 ],
                            "parameter_initial_enable": 1,
                            "parameter_unitstyle": 0,
                            "parameter_invisible": 1,
                            "parameter_modmode": 0
                        }
                    }
                }
            },
            {
                "box": {
                    "id": "obj-58",
                    "maxclass": "live.numbox",
                    "numinlets": 1,
                    "numoutlets": 2,
                    "patching_rect": [ 1080.0, 256.0, 50.0, 15.0 ],
                    "outlettype": [ "", "float" ],
                    "presentation": 1,
                    "presentation_rect": [ 372.0, 59.0, 50.0, 15.0 ],
                    "parameter_enable": 1,
                    "varname": "reply_port",
                    "annotation": "Where this device hears back from the daemon. 0 picks a port from the device's Live id; each device in a set needs its own.",
                    "saved_attribute_attributes": {
                        "valueof": {
                            "parameter_longname": "Reply Port",
                            "parameter_shortname": "Reply",
                            "parameter_type": 0,
                            "parameter_mmin": 0.0,
                            "parameter_mmax": 65535.0,
                            "parameter_initial": [ 0.0 ],
                            "parameter_initial_enable": 1,
                            "parameter_unitstyle": 0,
                            "parameter_invisible": 1,
                            "parameter_modmode": 0
                        }
                    }
                }
            },
            {
                "box": {
                    "id": "obj-59",
                    "maxclass": "newobj",
                    "numinlets": 1,
                    "numoutlets": 1,
                    "patching_rect": [ 1000.0, 282.0, 76.0, 22.0 ],
                    "outlettype": [ "" ],
                    "text": "prepend port"
                }
            },
            {
                "box": {
                    "id": "obj-60",
                    "maxclass": "newobj",
                    "numinlets": 1,
                    "numoutlets": 1,
                    "patching_rect": [ 1080.0, 282.0, 100.0, 22.0 ],
                    "outlettype": [ "" ],
                    "text": "prepend replyport"
                }
            },
            {
                "box": {
                    "id": "obj-61",
                    "maxclass": "newobj",
                    "numinlets": 1,
                    "numoutlets": 0,
                    "patching_rect": [ 16.0, 620.0, 140.0, 22.0 ],
                    "text": "udpsend 127.0.0.1 9000"
                }
            },
            {
                "box": {
                    "id": "obj-62",
                    "maxclass": "newobj",
                    "numinlets": 1,
                    "numoutlets": 1,
                    "patching_rect": [ 560.0, 500.0, 100.0, 22.0 ],
                    "outlettype": [ "" ],
                    "text": "udpreceive 9101"
                }
            },
            {
                "box": {
                    "id": "obj-63",
                    "maxclass": "comment",
                    "numinlets": 1,
                    "numoutlets": 0,
                    "patching_rect": [ 560.0, 440.0, 300.0, 48.0 ],
                    "text": "The js re-aims both at once on load (host, port; reply port), so these arguments are only placeholders. OSC arrives with its address as the selector, straight into the js.",
                    "linecount": 4
                }
            },
            {
                "box": {
                    "id": "obj-64",
                    "maxclass": "textedit",
                    "numinlets": 1,
                    "numoutlets": 4,
                    "patching_rect": [ 180.0, 620.0, 300.0, 22.0 ],
                    "outlettype": [ "", "int", "", "" ],
                    "presentation": 1,
                    "presentation_rect": [ 4.0, 142.0, 534.0, 22.0 ],
                    "readonly": 1,
                    "lines": 2,
                    "parameter_enable": 0,
                    "text": "loading...",
                    "varname": "status",
                    "fontsize": 9.0
                }
            },
            {
                "box": {
                    "id": "obj-65",
                    "maxclass": "slider",
                    "numinlets": 1,
                    "numoutlets": 1,
                    "patching_rect": [ 500.0, 620.0, 120.0, 12.0 ],
                    "outlettype": [ "" ],
                    "presentation": 1,
                    "presentation_rect": [ 4.0, 132.0, 534.0, 8.0 ],
                    "orientation": 1,
                    "size": 101.0,
                    "ignoreclick": 1,
                    "parameter_enable": 0,
                    "varname": "progress"
                }
            },
            {
                "box": {
                    "id": "obj-66",
                    "maxclass": "comment",
                    "numinlets": 1,
                    "numoutlets": 0,
                    "patching_rect": [ 180.0, 650.0, 300.0, 34.0 ],
                    "text": "Status is a read-only textedit so a clip's path can be selected and copied when Live cannot import it.",
                    "linecount": 2
                }
            },
            {
                "box": {
                    "id": "obj-67",
                    "maxclass": "live.dial",
                    "numinlets": 1,
                    "numoutlets": 2,
                    "patching_rect": [ 760.0, 352.0, 48.0, 48.0 ],
                    "outlettype": [ "", "float" ],
                    "presentation": 1,
                    "presentation_rect": [ 312.0, 80.0, 48.0, 48.0 ],
                    "parameter_enable": 1,
                    "varname": "style_strength",
                    "saved_attribute_attributes": {
                        "valueof": {
                            "parameter_longname": "Style",
                            "parameter_shortname": "CFG",
                            "parameter_type": 0,
                            "parameter_mmin": 0.0,
                            "parameter_mmax": 2.0,
                            "parameter_initial": [ 1.0 ],
                            "parameter_initial_enable": 1,
                            "parameter_exponent": 1.0,
                            "parameter_unitstyle": 1,
                            "parameter_modmode": 0,
                            "parameter_info": "how strongly the chosen style (a trained LoRA adapter) applies; 0 is the base model exactly"
                        }
                    }
                }
            },
            {
                "box": {
                    "id": "obj-68",
                    "maxclass": "newobj",
                    "numinlets": 1,
                    "numoutlets": 1,
                    "patching_rect": [ 760.0, 412.0, 150.0, 22.0 ],
                    "outlettype": [ "" ],
                    "text": "prepend knob style_strength"
                }
            },
            {
                "box": {
                    "id": "obj-69",
                    "maxclass": "textedit",
                    "numinlets": 1,
                    "numoutlets": 4,
                    "patching_rect": [ 760.0, 240.0, 120.0, 22.0 ],
                    "outlettype": [ "", "int", "", "" ],
                    "presentation": 1,
                    "presentation_rect": [ 428.0, 66.0, 110.0, 20.0 ],
                    "keymode": 1,
                    "lines": 1,
                    "parameter_enable": 0,
                    "text": "",
                    "varname": "new_style_text",
                    "fontsize": 11.0,
                    "annotation": "New style: the name to train a style under (letters, digits, - and _), then press train_style."
                }
            },
            {
                "box": {
                    "id": "obj-70",
                    "maxclass": "newobj",
                    "numinlets": 2,
                    "numoutlets": 2,
                    "patching_rect": [ 760.0, 296.0, 62.0, 22.0 ],
                    "outlettype": [ "", "" ],
                    "text": "route text"
                }
            },
            {
                "box": {
                    "id": "obj-71",
                    "maxclass": "newobj",
                    "numinlets": 1,
                    "numoutlets": 1,
                    "patching_rect": [ 760.0, 328.0, 110.0, 22.0 ],
                    "outlettype": [ "" ],
                    "text": "prepend train_name"
                }
            },
            {
                "box": {
                    "id": "obj-72",
                    "maxclass": "message",
                    "numinlets": 2,
                    "numoutlets": 1,
                    "outlettype": [ "" ],
                    "patching_rect": [ 900.0, 328.0, 72.0, 22.0 ],
                    "presentation": 1,
                    "presentation_rect": [ 428.0, 90.0, 110.0, 20.0 ],
                    "text": "train_style",
                    "annotation": "Train a style under the name in the New style field on the selected track's audio clips (5-50). It joins the menu when done."
                }
            },
            {
                "box": {
                    "id": "obj-73",
                    "maxclass": "comment",
                    "numinlets": 1,
                    "numoutlets": 0,
                    "patching_rect": [ 700.0, 560.0, 110.0, 18.0 ],
                    "text": "Style",
                    "presentation": 1,
                    "presentation_rect": [ 428.0, 4.0, 110.0, 18.0 ],
                    "fontface": 1
                }
            },
            {
                "box": {
                    "id": "obj-74",
                    "maxclass": "umenu",
                    "numinlets": 1,
                    "numoutlets": 3,
                    "outlettype": [ "int", "", "" ],
                    "parameter_enable": 0,
                    "items": [ "none" ],
                    "patching_rect": [ 700.0, 600.0, 120.0, 22.0 ],
                    "presentation": 1,
                    "presentation_rect": [ 428.0, 22.0, 110.0, 20.0 ],
                    "varname": "style_menu",
                    "annotation": "Style: the trained style the next clips use (none: the base model). Filled from the daemon when the device connects and after a training."
                }
            },
            {
                "box": {
                    "id": "obj-75",
                    "maxclass": "newobj",
                    "numinlets": 1,
                    "numoutlets": 1,
                    "outlettype": [ "" ],
                    "patching_rect": [ 700.0, 632.0, 110.0, 22.0 ],
                    "text": "prepend style_menu"
                }
            },
            {
                "box": {
                    "id": "obj-76",
                    "maxclass": "comment",
                    "numinlets": 1,
                    "numoutlets": 0,
                    "patching_rect": [ 840.0, 560.0, 330.0, 76.0 ],
                    "text": "Style menu: the js fills it from /musicgen/style_list (none first) with clear and append and shows the chosen entry with set (none of which output); a choice reaches the js as its index, since a style may be called none. A umenu, not a live.menu: a live.menu's items are a Live parameter's fixed list, and an automated index would name another style once the list changes."
                }
            },
            {
                "box": {
                    "id": "obj-77",
                    "maxclass": "comment",
                    "numinlets": 1,
                    "numoutlets": 0,
                    "patching_rect": [ 900.0, 200.0, 110.0, 18.0 ],
                    "text": "New style",
                    "presentation": 1,
                    "presentation_rect": [ 428.0, 48.0, 110.0, 18.0 ]
                }
            },
            {
                "box": {
                    "id": "obj-78",
                    "maxclass": "newobj",
                    "numinlets": 1,
                    "numoutlets": 2,
                    "outlettype": [ "bang", "bang" ],
                    "patching_rect": [ 900.0, 360.0, 36.0, 22.0 ],
                    "text": "t b b"
                }
            },
            {
                "box": {
                    "id": "obj-79",
                    "maxclass": "message",
                    "numinlets": 2,
                    "numoutlets": 1,
                    "outlettype": [ "" ],
                    "patching_rect": [ 900.0, 392.0, 72.0, 22.0 ],
                    "text": "train_style"
                }
            }
        ],
        "lines": [
            {
                "patchline": {
                    "source": [ "obj-3", 0 ],
                    "destination": [ "obj-4", 0 ]
                }
            },
            {
                "patchline": {
                    "source": [ "obj-3", 1 ],
                    "destination": [ "obj-4", 1 ]
                }
            },
            {
                "patchline": {
                    "source": [ "obj-6", 0 ],
                    "destination": [ "obj-7", 0 ]
                }
            },
            {
                "patchline": {
                    "source": [ "obj-8", 0 ],
                    "destination": [ "obj-9", 0 ]
                }
            },
            {
                "patchline": {
                    "source": [ "obj-7", 0 ],
                    "destination": [ "obj-8", 0 ]
                }
            },
            {
                "patchline": {
                    "source": [ "obj-12", 0 ],
                    "destination": [ "obj-13", 0 ]
                }
            },
            {
                "patchline": {
                    "source": [ "obj-13", 0 ],
                    "destination": [ "obj-14", 0 ]
                }
            },
            {
                "patchline": {
                    "source": [ "obj-14", 0 ],
                    "destination": [ "obj-9", 0 ]
                }
            },
            {
                "patchline": {
                    "source": [ "obj-17", 0 ],
                    "destination": [ "obj-18", 0 ]
                }
            },
            {
                "patchline": {
                    "source": [ "obj-18", 0 ],
                    "destination": [ "obj-9", 0 ]
                }
            },
            {
                "patchline": {
                    "source": [ "obj-19", 0 ],
                    "destination": [ "obj-20", 0 ]
                }
            },
            {
                "patchline": {
                    "source": [ "obj-20", 0 ],
                    "destination": [ "obj-9", 0 ]
                }
            },
            {
                "patchline": {
                    "source": [ "obj-21", 0 ],
                    "destination": [ "obj-22", 0 ]
                }
            },
            {
                "patchline": {
                    "source": [ "obj-22", 0 ],
                    "destination": [ "obj-9", 0 ]
                }
            },
            {
                "patchline": {
                    "source": [ "obj-23", 0 ],
                    "destination": [ "obj-24", 0 ]
                }
            },
            {
                "patchline": {
                    "source": [ "obj-24", 0 ],
                    "destination": [ "obj-9", 0 ]
                }
            },
            {
                "patchline": {
                    "source": [ "obj-28", 0 ],
                    "destination": [ "obj-33", 0 ]
                }
            },
            {
                "patchline": {
                    "source": [ "obj-33", 0 ],
                    "destination": [ "obj-9", 0 ]
                }
            },
            {
                "patchline": {
                    "source": [ "obj-29", 0 ],
                    "destination": [ "obj-34", 0 ]
                }
            },
            {
                "patchline": {
                    "source": [ "obj-34", 0 ],
                    "destination": [ "obj-9", 0 ]
                }
            },
            {
                "patchline": {
                    "source": [ "obj-30", 0 ],
                    "destination": [ "obj-35", 0 ]
                }
            },
            {
                "patchline": {
                    "source": [ "obj-35", 0 ],
                    "destination": [ "obj-9", 0 ]
                }
            },
            {
                "patchline": {
                    "source": [ "obj-37", 0 ],
                    "destination": [ "obj-40", 0 ]
                }
            },
            {
                "patchline": {
                    "source": [ "obj-40", 0 ],
                    "destination": [ "obj-41", 0 ]
                }
            },
            {
                "patchline": {
                    "source": [ "obj-41", 1 ],
                    "destination": [ "obj-12", 0 ]
                }
            },
            {
                "patchline": {
                    "source": [ "obj-41", 0 ],
                    "destination": [ "obj-42", 0 ]
                }
            },
            {
                "patchline": {
                    "source": [ "obj-42", 0 ],
                    "destination": [ "obj-9", 0 ]
                }
            },
            {
                "patchline": {
                    "source": [ "obj-38", 0 ],
                    "destination": [ "obj-43", 0 ]
                }
            },
            {
                "patchline": {
                    "source": [ "obj-43", 0 ],
                    "destination": [ "obj-44", 0 ]
                }
            },
            {
                "patchline": {
                    "source": [ "obj-44", 1 ],
                    "destination": [ "obj-12", 0 ]
                }
            },
            {
                "patchline": {
                    "source": [ "obj-44", 0 ],
                    "destination": [ "obj-45", 0 ]
                }
            },
            {
                "patchline": {
                    "source": [ "obj-45", 0 ],
                    "destination": [ "obj-9", 0 ]
                }
            },
            {
                "patchline": {
                    "source": [ "obj-39", 0 ],
                    "destination": [ "obj-46", 0 ]
                }
            },
            {
                "patchline": {
                    "source": [ "obj-46", 0 ],
                    "destination": [ "obj-47", 0 ]
                }
            },
            {
                "patchline": {
                    "source": [ "obj-47", 0 ],
                    "destination": [ "obj-9", 0 ]
                }
            },
            {
                "patchline": {
                    "source": [ "obj-53", 0 ],
                    "destination": [ "obj-54", 0 ]
                }
            },
            {
                "patchline": {
                    "source": [ "obj-54", 0 ],
                    "destination": [ "obj-55", 0 ]
                }
            },
            {
                "patchline": {
                    "source": [ "obj-55", 0 ],
                    "destination": [ "obj-9", 0 ]
                }
            },
            {
                "patchline": {
                    "source": [ "obj-57", 0 ],
                    "destination": [ "obj-59", 0 ]
                }
            },
            {
                "patchline": {
                    "source": [ "obj-59", 0 ],
                    "destination": [ "obj-9", 0 ]
                }
            },
            {
                "patchline": {
                    "source": [ "obj-58", 0 ],
                    "destination": [ "obj-60", 0 ]
                }
            },
            {
                "patchline": {
                    "source": [ "obj-60", 0 ],
                    "destination": [ "obj-9", 0 ]
                }
            },
            {
                "patchline": {
                    "source": [ "obj-9", 0 ],
                    "destination": [ "obj-61", 0 ]
                }
            },
            {
                "patchline": {
                    "source": [ "obj-9", 1 ],
                    "destination": [ "obj-62", 0 ]
                }
            },
            {
                "patchline": {
                    "source": [ "obj-62", 0 ],
                    "destination": [ "obj-9", 0 ]
                }
            },
            {
                "patchline": {
                    "source": [ "obj-9", 2 ],
                    "destination": [ "obj-64", 0 ]
                }
            },
            {
                "patchline": {
                    "source": [ "obj-9", 3 ],
                    "destination": [ "obj-65", 0 ]
                }
            },
            {
                "patchline": {
                    "source": [ "obj-7", 1 ],
                    "destination": [ "obj-12", 0 ]
                }
            },
            {
                "patchline": {
                    "source": [ "obj-7", 1 ],
                    "destination": [ "obj-17", 0 ]
                }
            },
            {
                "patchline": {
                    "source": [ "obj-7", 1 ],
                    "destination": [ "obj-19", 0 ]
                }
            },
            {
                "patchline": {
                    "source": [ "obj-7", 1 ],
                    "destination": [ "obj-21", 0 ]
                }
            },
            {
                "patchline": {
                    "source": [ "obj-7", 1 ],
                    "destination": [ "obj-23", 0 ]
                }
            },
            {
                "patchline": {
                    "source": [ "obj-7", 1 ],
                    "destination": [ "obj-28", 0 ]
                }
            },
            {
                "patchline": {
                    "source": [ "obj-7", 1 ],
                    "destination": [ "obj-29", 0 ]
                }
            },
            {
                "patchline": {
                    "source": [ "obj-7", 1 ],
                    "destination": [ "obj-30", 0 ]
                }
            },
            {
                "patchline": {
                    "source": [ "obj-7", 1 ],
                    "destination": [ "obj-53", 0 ]
                }
            },
            {
                "patchline": {
                    "source": [ "obj-7", 1 ],
                    "destination": [ "obj-57", 0 ]
                }
            },
            {
                "patchline": {
                    "source": [ "obj-7", 1 ],
                    "destination": [ "obj-58", 0 ]
                }
            },
            {
                "patchline": {
                    "source": [ "obj-67", 0 ],
                    "destination": [ "obj-68", 0 ]
                }
            },
            {
                "patchline": {
                    "source": [ "obj-68", 0 ],
                    "destination": [ "obj-9", 0 ]
                }
            },
            {
                "patchline": {
                    "source": [ "obj-7", 1 ],
                    "destination": [ "obj-67", 0 ]
                }
            },
            {
                "patchline": {
                    "source": [ "obj-69", 0 ],
                    "destination": [ "obj-70", 0 ]
                }
            },
            {
                "patchline": {
                    "source": [ "obj-70", 0 ],
                    "destination": [ "obj-71", 0 ]
                }
            },
            {
                "patchline": {
                    "source": [ "obj-71", 0 ],
                    "destination": [ "obj-9", 0 ]
                }
            },
            {
                "patchline": {
                    "source": [ "obj-7", 1 ],
                    "destination": [ "obj-69", 0 ]
                }
            },
            {
                "patchline": {
                    "source": [ "obj-9", 4 ],
                    "destination": [ "obj-74", 0 ]
                }
            },
            {
                "patchline": {
                    "source": [ "obj-74", 0 ],
                    "destination": [ "obj-75", 0 ]
                }
            },
            {
                "patchline": {
                    "source": [ "obj-75", 0 ],
                    "destination": [ "obj-9", 0 ]
                }
            },
            {
                "patchline": {
                    "source": [ "obj-72", 0 ],
                    "destination": [ "obj-78", 0 ]
                }
            },
            {
                "patchline": {
                    "source": [ "obj-78", 1 ],
                    "destination": [ "obj-69", 0 ]
                }
            },
            {
                "patchline": {
                    "source": [ "obj-78", 0 ],
                    "destination": [ "obj-79", 0 ]
                }
            },
            {
                "patchline": {
                    "source": [ "obj-79", 0 ],
                    "destination": [ "obj-9", 0 ]
                }
            }
        ],
        "parameters": {
            "obj-15": [ "Prompt", "Prompt", 0 ],
            "obj-17": [ "Top-K", "Top-K", 0 ],
            "obj-19": [ "Top-P", "Top-P", 0 ],
            "obj-21": [ "Temperature", "Temperature", 0 ],
            "obj-23": [ "CFG", "CFG", 0 ],
            "obj-28": [ "Bars", "Bars", 0 ],
            "obj-29": [ "Variations", "Vars", 0 ],
            "obj-31": [ "Seed", "Seed", 0 ],
            "obj-37": [ "Generate", "Generate", 0 ],
            "obj-38": [ "Continue", "Continue", 0 ],
            "obj-39": [ "Cancel", "Cancel", 0 ],
            "obj-56": [ "Daemon Host", "Host", 0 ],
            "obj-57": [ "Daemon Port", "Port", 0 ],
            "obj-58": [ "Reply Port", "Reply", 0 ],
            "parameterbanks": {
                "0": {
                    "index": 0,
                    "name": "MusicGen",
                    "parameters": [ "Top-K", "Top-P", "Temperature", "CFG", "Style", "Bars", "Variations", "Generate" ]
                }
            },
            "inherited_shortname": 1,
            "obj-67": [ "Style", "Style", 0 ]
        },
        "dependency_cache": [
            {
                "name": "musicgen_bridge.js",
                "bootpath": ".",
                "patcherrelativepath": ".",
                "type": "TEXT",
                "implicit": 1
            }
        ],
        "autosave": 0
    }
}
