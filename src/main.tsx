import { StrictMode } from 'react';
import { createRoot } from 'react-dom/client';
import { predictSamples } from './store/actions';
import { installDebugHooks, installPageHooks } from './store/page-hooks';
import { App } from './ui/App';
import './ui/styles.css';

installPageHooks(window);
installDebugHooks(window, predictSamples);
const root = document.getElementById('root');
if (!root) throw new Error('index.html lacks #root');
createRoot(root).render(
  <StrictMode>
    <App />
  </StrictMode>,
);
