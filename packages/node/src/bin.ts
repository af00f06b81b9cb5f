#!/usr/bin/env node
import { main } from './cli/index.js'

void main()
